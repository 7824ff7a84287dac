"""Say which integration services the test run will use; with CI=true a missing one is a failure."""

import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.services import broker_url, database_url, missing_services

missing = missing_services()
ci = os.environ.get("CI", "").lower() in {"1", "true", "yes"}
if not missing:
    print(f"integration services: PostgreSQL {database_url()} and Redis {broker_url()} reachable")
elif ci:
    print(f"CI=true and integration services unreachable: {', '.join(missing)}", file=sys.stderr)
    sys.exit(3)
else:
    print(f"integration tests will be skipped: {', '.join(missing)} unreachable (unit tests run on SQLite)")
