"""The orders service: villages' demands through county endorsement to published orders."""
