"""Status vocabularies of the core package."""

from django.db import models


class JobState(models.TextChoices):
    QUEUED = "queued", "Queued"
    RUNNING = "running", "Running"
    COMPLETED = "completed", "Completed"
    FAILED = "failed", "Failed"


JOB_FINISHED_STATES = (JobState.COMPLETED, JobState.FAILED)


class Role(models.TextChoices):
    ADMINISTRATOR = "administrator", "Administrator"
    REQUESTER = "requester", "Requester"
    APPROVER = "approver", "Approver"
    IMPLEMENTER = "implementer", "Implementer"
    AUDITOR = "auditor", "Auditor"
