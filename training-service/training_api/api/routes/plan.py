"""`GET /retrain/plan`: how many corrections a retrain would use, and roughly how long it takes."""

from fastapi import APIRouter
from tagloop.http import error_responses

from training_api.api.deps import DbSession, StoreDep, UserOnly
from training_api.retrain_plan import retrain_plan
from training_api.review.session_schemas import RetrainPlan

router = APIRouter(tags=["jobs"])


@router.get(
    "/retrain/plan", response_model=RetrainPlan, dependencies=UserOnly, responses=error_responses(401)
)
def plan(db: DbSession, store: StoreDep) -> RetrainPlan:
    """Corrections a retrain uses (the latest per image), how many are new since the active
    version was made, and a rough duration in seconds."""
    return retrain_plan(db, store)
