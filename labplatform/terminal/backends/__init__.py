"""Terminal backends: where a learner's shell runs.

Each backend's shell offers the same interface to the consumer: start,
write, resize, pause_reading, resume_reading and close, with on_output
and on_exit callbacks.
"""


class ShellStartError(RuntimeError):
    """The shell could not start; the message is shown to the learner."""
