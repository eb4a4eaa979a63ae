"""Make untrusted text safe to print in a GitHub Actions log.

The Actions runner reads every log line that starts (after leading blanks)
with ``::`` as a workflow command (``::add-mask::``, ``::error::``,
``::stop-commands::`` …), and a line holding ``##[`` anywhere as the legacy
form. A submission's own output, or text it smuggles into its SQL, must never
steer the workflow that grades it. The runner splits lines at ``\r`` too.

On a terminal, escape sequences and carriage returns in such text could
redraw what the grader printed (a forged ``PASS``); `strip_terminal_controls`
takes them out.
"""

from __future__ import annotations

import re
import secrets

#: What a line that the runner would read as a workflow command starts with.
COMMAND_PREFIXES = ("::", "##[")
#: The legacy command form, which the runner finds anywhere in a line.
LEGACY_COMMAND = "##["


def looks_like_workflow_command(line: str) -> bool:
    """Whether the Actions runner would read ``line`` as a workflow command."""
    return line.lstrip().startswith(COMMAND_PREFIXES) or LEGACY_COMMAND in line


def neutralize_workflow_commands(text: str) -> str:
    """``text``, with any workflow-command-looking lines defused.

    When a line of ``text`` would be read as a workflow command, the whole
    text is bracketed by ``::stop-commands::<token>`` and ``::<token>::``
    with a fresh random token: the runner processes no command in between,
    and the text cannot end the bracket early because it cannot know the
    token. Text without such lines is returned unchanged.
    """
    if not any(looks_like_workflow_command(line) for line in text.splitlines()):
        return text
    token = f"ormgrade-{secrets.token_hex(16)}"
    body = text if text.endswith("\n") else text + "\n"
    return f"::stop-commands::{token}\n{body}::{token}::\n"


#: What `quote_workflow_commands` puts before a command-looking line.
QUOTE_PREFIX = "> "


def quote_workflow_commands(text: str) -> str:
    """``text`` with each workflow-command-looking line prefixed by `QUOTE_PREFIX`.

    For text that others print to the log line by line (the Classroom
    reporter prints each test's message), where no bracket can be put around it.
    """
    return "\n".join(
        QUOTE_PREFIX + line if looks_like_workflow_command(line) else line
        for line in text.split("\n")
    )


# CSI sequences (colours, cursor moves), OSC sequences (titles, links), other escapes.
_ESCAPE_SEQUENCE = re.compile(
    r"\x1b(?:\[[0-?]*[ -/]*[@-~]|\][^\x07\x1b]*(?:\x07|\x1b\\)?|[@-Z\\-_])"
)
# Control characters other than tab and newline, C1 controls included.
_CONTROL_CHARACTER = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")
#: What a control character of untrusted text is shown as.
REPLACEMENT = "\ufffd"


def strip_terminal_controls(text: str) -> str:
    """``text`` without what could redraw a terminal.

    Escape sequences are dropped, carriage returns become line breaks (as the
    Actions runner reads them), other control characters but tab become
    `REPLACEMENT`.
    """
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    text = _ESCAPE_SEQUENCE.sub("", text)
    return _CONTROL_CHARACTER.sub(REPLACEMENT, text)
