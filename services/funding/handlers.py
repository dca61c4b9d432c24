"""Use cases of the funding service: one handler per event type it consumes, and its timers."""

from __future__ import annotations

from datetime import datetime

from services.funding.adapters.repository import FundingRepository, prefetch_grant_owners
from services.funding.domain import ledger
from services.funding.domain.early_end import Settlement, extend, settle_early_end
from services.funding.domain.model import (
    Consequences,
    Grant,
    Opened,
    Rectification,
    confirm_payment,
    consequences_of,
    decide_envelope,
    decide_rectification,
    miss_deadline,
    new_grant,
    open_held,
    payment_failed,
    rectification_of,
    submit_rectification_report,
)
from services.funding.domain.team import team_after
from shared import topics
from shared.clock import local_date
from shared.contract.events.funding import (
    BudgetEnvelopeSet,
    DecideRectification,
    GrantHeld,
    PaymentConfirmed,
    PaymentFailed,
    PaymentRetryRequested,
    ProjectEnded,
    RectificationReportSubmitted,
    SetBudgetEnvelope,
    SuspensionLifted,
)
from shared.contract.events.matching import MemberChangeApproved, ProjectEndedEarly, ProjectExtended, TeamAccepted
from shared.contract.events.reviews import ReviewCompleted
from shared.messaging.context import EmitContext, MessageContext
from shared.messaging.routing import Subscription, on
from shared.policy import format_yuan
from shared.rules import RuleBroken
from shared.runtime.timers import Timer


async def _open(ctx: MessageContext, repo: FundingRepository, opened: Opened) -> None:
    grant, cause = opened.grant, ctx.envelope.id
    repo.post(
        ledger.commit(grant.budget_year, grant.grant_id, grant.amount_fen),
        at=ctx.now(),
        grant_id=grant.grant_id,
        cause_event_id=cause,
    )
    repo.post(
        ledger.release(grant.grant_id, opened.release.release_id, opened.release.amount_fen),
        at=ctx.now(),
        grant_id=grant.grant_id,
        cause_event_id=cause,
    )
    repo.save_grant(grant, ctx.now())
    repo.add_release(opened.release, ctx.now())
    ctx.emit(opened.opened)
    ctx.emit(opened.released)
    ctx.note(
        "grant opened and first tranche released to the treasury",
        order_id=grant.order_id,
        grant_id=grant.grant_id,
        team=grant.payee.team_name,
        grant=format_yuan(grant.amount_fen),
        asked=format_yuan(grant.asked),
        released=format_yuan(opened.release.amount_fen),
        release_id=opened.release.release_id,
        continued_support_of=grant.continued_support_of,
    )


# ---- grants ------------------------------------------------------------------------------------


async def on_team_accepted(ctx: MessageContext, data: TeamAccepted) -> None:
    repo = FundingRepository.of(ctx)
    policy = ctx.policy
    grant = new_grant(data, policy)
    year = await repo.year_position(
        grant.budget_year, data.order_id, policy.annual_envelope_fen, ctx.now(), ctx.envelope.id
    )
    if year.order_has_grant:
        raise RuleBroken("grant_exists", f"order {data.order_id} already has a grant")
    decision = decide_envelope(grant, year.envelope_fen, year.committed_fen, ctx.now())
    if isinstance(decision, GrantHeld):
        repo.save_grant(grant, ctx.now(), held_reason=decision.reason)
        ctx.emit(decision)
        ctx.note(
            "grant held: it would exceed the year's budget envelope",
            order_id=grant.order_id,
            grant=format_yuan(grant.amount_fen),
            reason=decision.reason,
            continued_support_of=grant.continued_support_of,
        )
        return
    await _open(ctx, repo, decision)


async def on_set_budget_envelope(ctx: MessageContext, data: SetBudgetEnvelope) -> None:
    repo = FundingRepository.of(ctx)
    committed = await repo.committed(data.year)
    if data.amount_fen < committed:
        raise RuleBroken(
            "envelope_below_committed",
            f"{data.year} grants already commit {format_yuan(committed)}; the envelope cannot be "
            f"{format_yuan(data.amount_fen)}",
        )
    await repo.set_envelope(data.year, data.amount_fen, data.set_by, ctx.now(), ctx.envelope.id)
    ctx.emit(
        BudgetEnvelopeSet(
            year=data.year, envelope_fen=data.amount_fen, committed_fen=committed, set_by=data.set_by, set_at=ctx.now()
        )
    )
    ctx.note("budget envelope set", year=data.year, envelope=format_yuan(data.amount_fen), by=data.set_by)
    opened = open_held(await repo.held_grants(data.year), data.amount_fen, committed, ctx.now())
    for one in opened:  # continued-support grants (继续支持) first
        await _open(ctx, repo, one)
    if opened:
        ctx.note(
            "held grants opened within the new envelope",
            year=data.year,
            grants=len(opened),
            continued_support=sum(1 for one in opened if one.grant.continued_support_of),
        )


# ---- the project's course: ended early, extended, its team changed -------------------------------


async def _grant_of(repo: FundingRepository, order_id: str) -> Grant:
    grant = await repo.grant_for_order(order_id)
    if grant is None:
        raise RuleBroken("unknown_grant", f"order {order_id} has no grant")
    return grant


async def on_project_ended_early(ctx: MessageContext, data: ProjectEndedEarly) -> None:
    """The bureau ended the project: its unreleased money is settled by policy and the grant ends
    (no tranche after this; a later review is refused with `project_ended`)."""
    repo = FundingRepository.of(ctx)
    grant = await _grant_of(repo, data.order_id)
    settlement = settle_early_end(grant, data, ctx.policy, ctx.now())
    _post_settlement(ctx, repo, settlement)
    settled = settlement.settled
    ctx.note(
        "PROJECT ENDED EARLY: grant settled",
        order_id=data.order_id,
        ended_on=str(data.ended_on),
        rule=settled.rule,
        released=format_yuan(settled.released_fen),
        forfeited=format_yuan(settled.forfeited_fen),
        back_to_budget=format_yuan(settled.returned_to_budget_fen),
        budget_year=settled.budget_year,
    )


def _post_settlement(ctx: MessageContext, repo: FundingRepository, settlement: Settlement) -> None:
    grant, cause, now = settlement.grant, ctx.envelope.id, ctx.now()
    reason = settlement.settled.reason
    entries = []
    if settlement.release is not None:
        release, _ = settlement.release
        entries.append(ledger.release(grant.grant_id, release.release_id, release.amount_fen))
    if settlement.unreleased_forfeited_fen:
        entries.append(ledger.forfeit_at_end(grant.grant_id, "committed", settlement.unreleased_forfeited_fen, reason))
    if settlement.withheld_forfeited_fen:
        entries.append(ledger.forfeit_at_end(grant.grant_id, "withheld", settlement.withheld_forfeited_fen, reason))
    given_back = settlement.unreleased_forfeited_fen + settlement.withheld_forfeited_fen
    if given_back:
        entries.append(ledger.give_back(grant.budget_year, grant.grant_id, given_back))
    for entry in entries:
        repo.post(entry, at=now, grant_id=grant.grant_id, cause_event_id=cause)
    repo.save_grant(grant, now)
    ctx.emit(settlement.settled)
    if settlement.release is not None:
        release, released = settlement.release
        repo.add_release(release, now)
        ctx.emit(released)


async def on_project_extended(ctx: MessageContext, data: ProjectExtended) -> None:
    """The bureau extended the service period: same total, the unreleased tranches spread anew."""
    repo = FundingRepository.of(ctx)
    grant = await _grant_of(repo, data.order_id)
    outcome = extend(grant, data, ctx.policy, ctx.now())
    if outcome.rescheduled is None:
        ctx.note("extension already applied", order_id=data.order_id, months=data.service_period.months)
        return
    repo.save_grant(outcome.grant, ctx.now())
    ctx.emit(outcome.rescheduled)
    ctx.note(
        "project extended: unreleased tranches spread over the new service years",
        order_id=data.order_id,
        months=data.service_period.months,
        previous_months=outcome.rescheduled.previous_months,
        tranches=[t.amount_fen for t in outcome.grant.tranches],
    )


async def on_member_change_approved(ctx: MessageContext, data: MemberChangeApproved) -> None:
    """The team as it stands from `effective_from`: incentives follow the people on the team."""
    repo = FundingRepository.of(ctx)
    grant = await _grant_of(repo, data.order_id)
    changed = team_after(grant, data)
    if changed == grant:
        ctx.note("member change already applied", order_id=data.order_id, change_id=data.change_id)
        return
    repo.save_grant(changed, ctx.now())
    ctx.note(
        "team changed: incentives follow the people on the team",
        order_id=data.order_id,
        change_id=data.change_id,
        kind=data.kind,
        leaving=data.leaving.expert_id if data.leaving else None,
        joining=data.joining.expert_id if data.joining else None,
        effective_from=str(data.effective_from),
    )


# ---- the treasury ------------------------------------------------------------------------------


async def on_payment_confirmed(ctx: MessageContext, data: PaymentConfirmed) -> None:
    repo = FundingRepository.of(ctx)
    release = await repo.release(data.release_id)
    if release is None:
        raise RuleBroken("unknown_release", f"there is no release {data.release_id}")
    release, paid = confirm_payment(release, data.amount_fen, data.payment_reference, data.paid_on)
    repo.post(
        ledger.pay(release.grant_id, release.release_id, release.amount_fen),
        at=ctx.now(),
        grant_id=release.grant_id,
        cause_event_id=ctx.envelope.id,
    )
    await repo.update_release(release, ctx.now(), reference=data.payment_reference, paid_on=data.paid_on)
    ctx.emit(paid)
    ctx.note(
        "treasury confirmed the payment; release closed",
        order_id=release.order_id,
        release_id=release.release_id,
        amount=format_yuan(release.amount_fen),
        reference=data.payment_reference,
    )


async def on_payment_failed(ctx: MessageContext, data: PaymentFailed) -> None:
    repo = FundingRepository.of(ctx)
    release = await repo.release(data.release_id)
    if release is None:
        raise RuleBroken("unknown_release", f"there is no release {data.release_id}")
    release, answer = payment_failed(release, data.reason, data.retryable, ctx.policy, ctx.now())
    await repo.update_release(release, ctx.now(), failure=data.reason)
    ctx.emit(answer)
    if isinstance(answer, PaymentRetryRequested):
        ctx.note(
            "payment failed; the treasury is asked to retry",
            order_id=release.order_id,
            release_id=release.release_id,
            attempt=answer.attempt,
            failure=data.reason,
        )
    else:
        ctx.note(
            "PAYMENT ESCALATED: failed on every attempt, bureau staff must act",
            order_id=release.order_id,
            release_id=release.release_id,
            attempts=release.attempts,
            failure=data.reason,
            amount=format_yuan(release.amount_fen),
        )


# ---- the yearly review -------------------------------------------------------------------------


async def on_review_completed(ctx: MessageContext, data: ReviewCompleted) -> None:
    repo = FundingRepository.of(ctx)
    grant = await repo.grant_for_order(data.order_id)
    if grant is None:
        raise RuleBroken("unknown_grant", f"order {data.order_id} has no grant")
    outcome = consequences_of(data, grant, ctx.policy, ctx.now())
    summary = "; ".join(outcome.summary)
    if not await repo.claim_review(data.review_id, grant.grant_id, data.grade, summary, ctx.now()):
        raise RuleBroken("review_already_applied", f"the consequences of review {data.review_id} were already applied")
    await _apply(ctx, repo, grant, outcome, data)
    ctx.note(
        f"review {data.grade}: consequences applied",
        order_id=data.order_id,
        review_id=data.review_id,
        team=data.team_name,
        score=data.score,
        consequences=summary,
    )


async def _apply(
    ctx: MessageContext, repo: FundingRepository, before: Grant, outcome: Consequences, review: ReviewCompleted
) -> None:
    grant, cause, now = outcome.grant, ctx.envelope.id, ctx.now()
    if outcome.release is not None:
        release, released = outcome.release
        repo.post(
            ledger.release(grant.grant_id, release.release_id, release.amount_fen),
            at=now,
            grant_id=grant.grant_id,
            cause_event_id=cause,
        )
        repo.add_release(release, now)
        ctx.emit(released)
    if outcome.withheld is not None:
        repo.post(
            ledger.withhold(grant.grant_id, review.review_id, outcome.withheld.amount_fen),
            at=now,
            grant_id=grant.grant_id,
            cause_event_id=cause,
        )
        ctx.emit(outcome.withheld)
    if grant != before:
        repo.save_grant(grant, now)
    if outcome.incentives:
        await repo.add_incentives(outcome.incentives)
        for incentive in outcome.incentives:
            ctx.emit(incentive)
    if outcome.continued_funding is not None:
        ctx.emit(outcome.continued_funding)
    if outcome.rectification is not None:
        r = outcome.rectification
        required = ctx.emit(r)
        await repo.add_rectification(
            rectification_of(r, review.year), r.reason, now, ctx.envelope.correlation_id, required.id
        )
    if outcome.suspension is not None:
        suspended = ctx.emit(outcome.suspension)
        await repo.add_suspension(outcome.suspension, ctx.envelope.correlation_id, suspended.id)
    if outcome.incentives_decided is not None:  # last: the ids of the events above keep their place
        ctx.emit(outcome.incentives_decided)


# ---- rectification (限期整改): the team's report, the bureau's decision, a missed deadline ---------


async def _rectification_of(repo: FundingRepository, order_id: str, review_id: str) -> tuple[Grant, Rectification]:
    """The order's grant and the rectification its review required, or the refusal for neither."""
    grant = await repo.grant_for_order(order_id)
    rectification = await repo.rectification(review_id) if grant is not None else None
    if grant is None or rectification is None:
        raise RuleBroken(
            "no_open_rectification", f"order {order_id} has no rectification required by review {review_id}"
        )
    return grant, rectification


async def on_rectification_report_submitted(ctx: MessageContext, data: RectificationReportSubmitted) -> None:
    repo = FundingRepository.of(ctx)
    grant, rectification = await _rectification_of(repo, data.order_id, data.review_id)
    rectification, recorded = submit_rectification_report(grant, rectification, data, ctx.now())
    repo.update_rectification(rectification)
    ctx.emit(recorded)
    ctx.note(
        "rectification report recorded; it waits for the bureau's decision",
        order_id=data.order_id,
        review_id=data.review_id,
        deadline=str(rectification.deadline),
        by=data.submitted_by,
    )


async def on_decide_rectification(ctx: MessageContext, data: DecideRectification) -> None:
    repo = FundingRepository.of(ctx)
    grant, rectification = await _rectification_of(repo, data.order_id, data.review_id)
    decided = decide_rectification(grant, rectification, data, ctx.now())
    grant, cause, now = decided.grant, ctx.envelope.id, ctx.now()
    repo.update_rectification(decided.rectification)
    ctx.emit(decided.decided)
    if decided.restored_fen:
        repo.post(
            ledger.restore(grant.grant_id, data.review_id, decided.restored_fen),
            at=now,
            grant_id=grant.grant_id,
            cause_event_id=cause,
        )
    if decided.release is not None:
        release, released = decided.release
        repo.post(
            ledger.release(grant.grant_id, release.release_id, release.amount_fen),
            at=now,
            grant_id=grant.grant_id,
            cause_event_id=cause,
        )
        repo.add_release(release, now)
        ctx.emit(released)
    if decided.ended is not None:
        _forfeit(repo, grant.grant_id, decided.ended, now, cause)
        ctx.emit(decided.ended)
    repo.save_grant(grant, now)
    ctx.note(
        "rectification accepted: withheld money restored" if data.accepted else "rectification rejected: project ended",
        order_id=data.order_id,
        review_id=data.review_id,
        by=data.decided_by,
        restored=format_yuan(decided.restored_fen),
        released=format_yuan(decided.release[0].amount_fen) if decided.release else None,
        forfeited=format_yuan(decided.ended.forfeited_fen) if decided.ended else None,
    )


def _forfeit(repo: FundingRepository, grant_id: str, ended: ProjectEnded, now: datetime, cause: str | None) -> None:
    if ended.forfeited_fen:
        repo.post(
            ledger.forfeit(grant_id, ended.review_id, ended.forfeited_fen),
            at=now,
            grant_id=grant_id,
            cause_event_id=cause,
        )


async def end_projects_past_rectification_deadline(ctx: EmitContext) -> None:
    """Every open rectification whose deadline (a Chongqing date) passed with no report ends its
    project: the withheld money is forfeited. Once: the rectification is closed in the same
    transaction, and a concurrent run waits on the grant's lock and then finds it closed."""
    repo = FundingRepository.of(ctx)
    now = ctx.now()
    for row in await repo.due_rectifications(local_date(now)):
        grant = await repo.grant_for_order(row["order_id"])
        rectification = await repo.rectification(row["review_id"])
        if grant is None or rectification is None:
            continue
        missed = miss_deadline(grant, rectification, now)
        if missed is None:
            continue
        rectification, grant, ended = missed
        repo.update_rectification(rectification)
        if ended is None:
            continue
        _forfeit(repo, grant.grant_id, ended, now, row["cause_event_id"])
        repo.save_grant(grant, now)
        ctx.emit(ended, correlation_id=row["correlation_id"], causation_id=row["cause_event_id"])
        ctx.note(
            "PROJECT ENDED: no rectification report by the deadline; withheld money forfeited",
            order_id=grant.order_id,
            review_id=rectification.review_id,
            deadline=str(rectification.deadline),
            forfeited=format_yuan(ended.forfeited_fen),
        )


# ---- suspensions lift themselves on their date -------------------------------------------------


async def lift_due_suspensions(ctx: EmitContext) -> None:
    repo = FundingRepository.of(ctx)
    today = local_date(ctx.now())
    for row in await repo.lift_due_suspensions(today, ctx.now()):
        ctx.emit(
            SuspensionLifted(
                team_id=row["team_id"],
                lead_expert_id=row["lead_expert_id"],
                review_id=row["review_id"],
                lifted_on=today,
                lifted_at=ctx.now(),
            ),
            correlation_id=row["correlation_id"],
            causation_id=row["cause_event_id"],
        )
        ctx.note(
            "suspension lifted on its date; the team may apply again",
            team_id=row["team_id"],
            review_id=row["review_id"],
            until=str(row["suspended_until"]),
        )


INBOUND = [
    on(PaymentConfirmed, on_payment_confirmed),
    on(PaymentFailed, on_payment_failed),
    on(SetBudgetEnvelope, on_set_budget_envelope),
    on(RectificationReportSubmitted, on_rectification_report_submitted),
    on(DecideRectification, on_decide_rectification),
]

SUBSCRIPTIONS = [
    Subscription(topics.inbound("funding"), INBOUND, strict=True),
    Subscription(
        topics.events("matching"),
        [
            on(TeamAccepted, on_team_accepted),
            on(ProjectEndedEarly, on_project_ended_early),
            on(ProjectExtended, on_project_extended),
            on(MemberChangeApproved, on_member_change_approved),
        ],
        prefetch=prefetch_grant_owners,
    ),
    Subscription(topics.events("reviews"), [on(ReviewCompleted, on_review_completed)]),
]

TIMERS = [
    Timer("lift-due-suspensions", every_s=60.0, run=lift_due_suspensions),
    Timer("end-projects-past-rectification-deadline", every_s=60.0, run=end_projects_past_rectification_deadline),
]
