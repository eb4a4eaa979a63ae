"""Class tools: bulk grading, the gradebook, the dashboard, distributed workers."""
