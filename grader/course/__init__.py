"""Course content: the catalog, exercise specs, submissions, manifests, notebooks."""
