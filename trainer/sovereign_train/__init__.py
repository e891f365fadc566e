"""sovereign-train: the training runner of the sovereign platform.

Only the standard library and boto3 are imported at module level anywhere in this package;
torch, transformers, peft, datasets and llmcompressor are imported inside the job functions.
"""

__version__ = "0.1.0"

#: Exit code for input the runner rejects (the Job's podFailurePolicy fails the Job at once).
EXIT_BAD_INPUT = 2
#: Exit code after SIGTERM (128 + 15): not a success, so the Job starts a pod that resumes.
EXIT_TERMINATED = 143


class BadInput(Exception):
    """Input the runner rejects; every problem is listed, and the process exits with code 2."""

    def __init__(self, problems: "list[str] | str"):
        self.problems = [problems] if isinstance(problems, str) else list(problems)
        super().__init__("\n".join(self.problems))
