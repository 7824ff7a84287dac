"""The job framework: rows created in the request, tasks queued on commit, progress through the API."""

from __future__ import annotations

import time
from typing import Any
from unittest import mock

import pytest

from clm.choices import JobState
from clm.jobs import MAX_ATTEMPTS, Progress, TransientJobError, job_enqueue, job_kind, job_run
from clm.models import Job


@job_kind("test.flaky")
def _flaky(job: Job, progress: Progress) -> dict[str, Any]:
    if job.attempts < int(job.params["succeed_on"]):
        raise TransientJobError("host busy")
    progress(50, "half way")
    return {"attempt": job.attempts}


@job_kind("test.broken")
def _broken(job: Job, progress: Progress) -> dict[str, Any]:
    raise RuntimeError("the CA said no")


def test_it_queues_the_task_only_after_commit(db: Any, django_capture_on_commit_callbacks: Any) -> None:
    with mock.patch("clm.tasks.run_job.apply_async") as send:
        with django_capture_on_commit_callbacks(execute=False) as callbacks:
            job = job_enqueue(kind="selftest", params={"steps": 1})
        send.assert_not_called()
        for callback in callbacks:
            callback()
    send.assert_called_once_with(args=[job.pk], queue="default")
    assert job.state == JobState.QUEUED


def test_a_job_runs_to_completed_with_its_result(db: Any) -> None:
    job = Job.objects.create(kind="selftest", params={"steps": 2, "delay": 0})
    assert job_run(job.pk) == JobState.COMPLETED
    job.refresh_from_db()
    assert (job.state, job.progress, job.attempts) == (JobState.COMPLETED, 100, 1)
    assert job.result["steps"] == 2
    assert job.started_at and job.finished_at


def test_a_finished_job_is_not_run_again(db: Any) -> None:
    job = Job.objects.create(kind="selftest", params={"steps": 1, "delay": 0})
    job_run(job.pk)
    assert job_run(job.pk) == "skipped"
    assert Job.objects.get(pk=job.pk).attempts == 1


def test_a_transient_error_is_retried_then_succeeds(db: Any) -> None:
    job = Job.objects.create(kind="test.flaky", params={"succeed_on": 2})
    with pytest.raises(TransientJobError):
        job_run(job.pk)
    assert Job.objects.get(pk=job.pk).state == JobState.QUEUED
    assert job_run(job.pk) == JobState.COMPLETED
    assert Job.objects.get(pk=job.pk).result == {"attempt": 2}


def test_transient_errors_are_bounded(db: Any) -> None:
    job = Job.objects.create(kind="test.flaky", params={"succeed_on": 99})
    for _ in range(MAX_ATTEMPTS - 1):
        with pytest.raises(TransientJobError):
            job_run(job.pk)
    assert job_run(job.pk) == JobState.FAILED
    job.refresh_from_db()
    assert "gave up after 3 attempts" in job.error


def test_any_other_error_fails_the_job_with_its_reason(db: Any) -> None:
    job = Job.objects.create(kind="test.broken")
    assert job_run(job.pk) == JobState.FAILED
    assert Job.objects.get(pk=job.pk).error == "the CA said no"


ROLES = ["administrator", "requester", "approver", "implementer", "auditor"]


@pytest.mark.parametrize("role", ROLES)
def test_jobs_api_per_role(role: str, role_users: dict[str, Any], api: Any) -> None:
    own = Job.objects.create(kind="selftest", created_by=role_users[role])
    other = Job.objects.create(
        kind="selftest", created_by=role_users["administrator" if role != "administrator" else "requester"]
    )
    client = api(role_users[role])
    assert client.get(f"/api/v1/jobs/{own.pk}/").status_code == 200
    sees_all = role in {"administrator", "auditor"}
    assert client.get(f"/api/v1/jobs/{other.pk}/").status_code == (200 if sees_all else 404)
    with mock.patch("clm.tasks.run_job.apply_async"):
        response = client.post("/api/v1/jobs/selftest/", {"steps": 1}, format="json")
    assert response.status_code == (202 if role == "administrator" else 403)


def test_selftest_rejects_bad_input_naming_the_field(admin_user: Any, api: Any) -> None:
    response = api(admin_user).post("/api/v1/jobs/selftest/", {"steps": 500}, format="json")
    assert response.status_code == 400
    assert "steps" in response.json()["errors"]
    assert not Job.objects.exists()


@pytest.mark.integration
def test_a_real_worker_runs_a_job_enqueued_through_the_api(
    broker: tuple[str, dict[str, Any], str | None], worker_factory: Any, admin_user: Any, api: Any
) -> None:
    url, _, folder = broker
    worker = worker_factory("jobs", ["default"], url, broker_dir=folder)
    client = api(admin_user)
    response = client.post("/api/v1/jobs/selftest/", {"steps": 4, "delay": 0.4}, format="json")
    assert response.status_code == 202
    job_id = response.json()["job"]
    seen_progress: set[int] = set()
    deadline = time.monotonic() + 60
    body: dict[str, Any] = {}
    while time.monotonic() < deadline:
        body = client.get(f"/api/v1/jobs/{job_id}/").json()
        seen_progress.add(body["progress"])
        if body["state"] in {"completed", "failed"}:
            break
        time.sleep(0.1)
    assert body["state"] == "completed", worker.log()[-3000:]
    assert body["result"]["steps"] == 4
    assert body["progress"] == 100
    assert body["attempts"] == 1
    # Progress was visible while the job ran, not only at the end.
    assert seen_progress & {25, 50, 75}, seen_progress
