"""The funding service: grants, tranches, the ledger, payments, review consequences, incentives."""
