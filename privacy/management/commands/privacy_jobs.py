from typing import Any

from privacy import services
from restapi.commands import ServiceCommand


class Command(ServiceCommand):
    help = (
        "Run the due privacy jobs (exports to make, expired exports to delete, erasures due) "
        "until none is left, then exit: for deployments that run them outside the web "
        "workers (PRIVACY_JOBS_FROM_WEB=0), e.g. every minute from a Kubernetes CronJob. "
        "Safe beside the web workers and other runs: each job is claimed by one."
    )

    def handle(self, *args: Any, **options: Any) -> None:
        passes = 0
        while services.jobs_run_once():
            passes += 1
        self.stdout.write(f"Ran {passes} passes with work; nothing is due now")
