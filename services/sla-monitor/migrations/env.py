"""Alembic environment for the SLA monitor's own database."""

from tierline_shared.migrations import run_env
from tierline_sla_monitor.adapters.orm import Base

run_env(Base.metadata)
