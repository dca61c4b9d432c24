"""`python -m services.reviews`: run the reviews service (reads KAFKA_BOOTSTRAP_SERVERS, DATABASE_URL)."""

from services.reviews.service import DEFINITION
from shared.runtime.service import run_service

if __name__ == "__main__":
    run_service(DEFINITION)
