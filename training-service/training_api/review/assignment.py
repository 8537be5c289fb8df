"""Who reviews which photo of a session assigned to annotators (team mode).

A session made with `annotators: [..]` and `overlap: p` gets one card per photo and
assignee. The photo at position k (upload order, from 0) goes to annotators[k % n]; it
also goes to the next one, annotators[(k + 1) % n], when floor((k + 1) p) > floor(k p),
so that of the first N photos exactly floor(N p) go to two annotators, spread evenly.
Deterministic, so people and tests can tell who gets what. A session assigned to no one
has one card per photo (annotator "") that anyone reviews, as in single-user mode.

An annotator sees only their cards of an assigned session; an admin the session is not
assigned to sees every card (each marked with its annotator). A session of disagreements
(`resolves`: its saves are resolutions) is the admins' only.
"""

import math
from collections.abc import Sequence

from sqlalchemy import ColumnElement, false, select
from sqlalchemy.orm import Session
from tagloop.errors import TagloopError

from training_api.db import ReviewItem, ReviewSession, User
from training_api.users import Caller

ANYONE = ""
"""The annotator of a card in a session assigned to no one."""


class UnknownAnnotatorError(TagloopError):
    """A session is assigned to a name that is no user (422)."""

    code = "unknown_annotator"


def check_annotators(db: Session, names: Sequence[str]) -> list[str] | None:
    """The assignees, deduplicated in order, all of them users; None when there are none."""
    wanted = list(dict.fromkeys(n.strip() for n in names if n.strip()))
    if not wanted:
        return None
    known = set(db.scalars(select(User.name).where(User.name.in_(wanted))))
    missing = [n for n in wanted if n not in known]
    if missing:
        raise UnknownAnnotatorError(f"no user is named {', '.join(missing)}")
    return wanted


def assignees(review: ReviewSession, position: int) -> list[str]:
    """Who gets the photo at `position` (see the module's doc)."""
    names = review.annotators or []
    if not names:
        return [ANYONE]
    first = names[position % len(names)]
    p = review.overlap or 0.0
    doubled = math.floor(round((position + 1) * p, 9)) > math.floor(round(position * p, 9))
    if len(names) < 2 or not doubled:
        return [first]
    return [first, names[(position + 1) % len(names)]]


def sees_all(review: ReviewSession, caller: Caller) -> bool:
    """Whether the caller sees every card of the session (else only their own)."""
    return not review.annotators or (caller.is_admin and caller.name not in review.annotators)


def visible(review: ReviewSession, caller: Caller) -> ColumnElement[bool]:
    """The WHERE clause of the cards of `review` that `caller` sees."""
    of_session = ReviewItem.session_id == review.id
    if review.resolves and not caller.is_admin:
        return false()
    if sees_all(review, caller):
        return of_session
    return of_session & (ReviewItem.annotator == (caller.name or ANYONE))


def listed_for(review: ReviewSession, caller: Caller) -> bool:
    """Whether the session appears in the caller's list: an annotator's lists leave out
    sessions assigned to others and the admins' sessions of disagreements."""
    if review.resolves and not caller.is_admin:
        return False
    return sees_all(review, caller) or caller.name in (review.annotators or [])
