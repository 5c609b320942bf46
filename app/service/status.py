"""What the tray says: one snapshot of the service, its light (green / amber / red / grey) with
a sentence a shopkeeper can act on, and the notifications a change between two snapshots
deserves. Pure (no Qt, no I/O), so every rule is unit-tested; the tray and the main window only
draw what this decides."""

import enum
from dataclasses import dataclass, field


class Light(enum.Enum):
    GREEN = "green"  # everything sent
    AMBER = "amber"  # invoices waiting (the line may be down; they are kept)
    RED = "red"  # a person must act: a POS held, an invoice rejected, or a long outage
    GREY = "grey"  # sending paused by the user


@dataclass(frozen=True)
class Snapshot:
    """The service at one moment (service/facade.py builds it on the core's loop)."""

    at: float
    counts: dict[str, int]
    oldest_pending_at: float | None = None
    last_synced_at: float | None = None
    held: tuple[tuple[str, str], ...] = ()  # (pos_id, reason)
    reachable: bool | None = None
    unreachable_since: float | None = None
    last_error: str | None = None
    paused: bool = False
    practice: bool = False
    upstream_name: str = "KPRA"
    base_url: str = ""
    rejected_reasons: tuple[tuple[str, int], ...] = ()  # (reason, how many), most first
    pos_ready: int = 1  # POS IDs whose key is at hand: with none, every till invoice is refused

    @property
    def pending(self) -> int:
        return sum(self.counts.get(s, 0) for s in ("queued", "sending", "held"))

    @property
    def rejected(self) -> int:
        return self.counts.get("rejected", 0)

    @property
    def synced(self) -> int:
        return self.counts.get("synced", 0)

    def oldest_pending_age(self) -> float | None:
        if self.oldest_pending_at is None:
            return None
        return max(0.0, self.at - self.oldest_pending_at)

    def unreachable_for(self) -> float:
        if self.reachable is not False or self.unreachable_since is None:
            return 0.0
        return max(0.0, self.at - self.unreachable_since)


@dataclass(frozen=True)
class Verdict:
    light: Light
    headline: str  # the menu's status line, the main window's title line
    tooltip: str  # the tray icon's tooltip (what to do, when something is wrong)
    advice: tuple[str, ...] = field(default=())


def age_text(seconds: float | None) -> str:
    """'45 s', '12 min', '3 h 5 min', '2 days'."""
    if seconds is None:
        return "—"
    seconds = int(seconds)
    if seconds < 60:
        return f"{seconds} s"
    if seconds < 3600:
        return f"{seconds // 60} min"
    if seconds < 2 * 86400:
        hours, minutes = divmod(seconds // 60, 60)
        return f"{hours} h {minutes} min" if minutes else f"{hours} h"
    return f"{seconds // 86400} days"


def invoices(n: int) -> str:
    return f"{n:,} invoice" + ("" if n == 1 else "s")


def verdict(s: Snapshot, red_after_unreachable: float) -> Verdict:
    """The light and what it says. Red wins over grey: a held POS or a rejected invoice needs a
    person even while sending is paused."""
    advice: list[str] = []
    if s.pos_ready == 0:
        advice.append("No POS is set up yet, so the till's invoices are refused. Open Settings "
                      f"and add the NTN, POS ID and key that {s.upstream_name} gave you.")
    for pos_id, reason in s.held:
        advice.append(f"POS {pos_id} is held: {reason}")
    if s.rejected:
        top = f" Reason: {s.rejected_reasons[0][0]}" if s.rejected_reasons else ""
        advice.append(f"{invoices(s.rejected)} rejected by {s.upstream_name}.{top}\nCheck "
                      f"{'it' if s.rejected == 1 else 'them'} in the queue; after a fix, use "
                      "Retry failed.")
    long_outage = s.unreachable_for() >= red_after_unreachable
    if long_outage:
        advice.append(f"{s.upstream_name} has not answered for {age_text(s.unreachable_for())}. "
                      "Check the internet connection; invoices are kept and will be sent.")
    if advice:
        problems = []
        if s.pos_ready == 0:
            problems.append("no POS set up")
        if s.held:
            problems.append(f"{len(s.held)} POS held")
        if s.rejected:
            problems.append(f"{invoices(s.rejected)} rejected")
        if long_outage:
            problems.append(f"{s.upstream_name} unreachable")
        headline = "Needs attention: " + ", ".join(problems)
        return Verdict(Light.RED, headline, "\n".join([headline, *advice]), tuple(advice))
    waiting = ""
    if s.pending:
        waiting = (f"{invoices(s.pending)} waiting, oldest "
                   f"{age_text(s.oldest_pending_age())}")
    if s.paused:
        headline = "Sending paused" + (f": {waiting}" if waiting else "")
        return Verdict(Light.GREY, headline,
                       headline + "\nInvoices are still received and kept. Resume sending "
                       "from this menu.")
    if s.pending:
        if s.reachable is False:
            tip = (f"{s.upstream_name} cannot be reached right now; invoices are kept and sent "
                   "as soon as it answers.")
        else:
            tip = f"Sending to {s.upstream_name}."
        return Verdict(Light.AMBER, waiting, f"{waiting}\n{tip}")
    if not s.counts or not any(s.counts.values()):
        headline = "Ready: no invoices yet"
        return Verdict(Light.GREEN, headline,
                       f"{headline}\nThe till sends to {s.base_url}/api/invoice")
    headline = "All invoices sent"
    return Verdict(Light.GREEN, headline, f"{headline} ({invoices(s.synced)} in total).")


def retried_text(requeued: int, released: list[str]) -> str:
    """What "Retry failed" did, in words (the tray and the queue window say it alike)."""
    text = (f"{invoices(requeued)} will be sent again now." if requeued
            else "There was nothing to retry.")
    if released:
        text += f" POS {', '.join(released)} may send again."
    return text


@dataclass(frozen=True)
class Alert:
    title: str
    text: str
    critical: bool = False


def alerts(before: Snapshot | None, now: Snapshot, stuck_after: float) -> list[Alert]:
    """The tray messages a change from ``before`` to ``now`` deserves: credentials refused (a
    POS newly held), an invoice newly rejected, the queue stuck longer than ``stuck_after``
    seconds (once per stuck spell), and sending back after an outage or a pause."""
    if before is None:
        return []
    out: list[Alert] = []
    held_before = {pos_id for pos_id, _ in before.held}
    for pos_id, reason in now.held:
        if pos_id not in held_before:
            out.append(Alert(f"POS {pos_id}: credentials refused",
                             f"{reason}\nIts invoices are kept until this is fixed in Settings.",
                             critical=True))
    if now.rejected > before.rejected:
        new = now.rejected - before.rejected
        reason = f": {now.rejected_reasons[0][0]}" if now.rejected_reasons else ""
        out.append(Alert(f"{invoices(new)} rejected by {now.upstream_name}",
                         f"The authority refused {'it' if new == 1 else 'them'}{reason}",
                         critical=True))
    age_now, age_before = now.oldest_pending_age(), before.oldest_pending_age()
    if (age_now is not None and age_now >= stuck_after and not now.paused
            and (age_before is None or age_before < stuck_after or before.paused)):
        out.append(Alert("Invoices are not going out",
                         f"{invoices(now.pending)} waiting, the oldest for {age_text(age_now)}. "
                         + ("Check the internet connection." if now.reachable is False else
                            "Open the queue to see why."), critical=True))
    came_back = before.reachable is False and now.reachable is True
    resumed = before.paused and not now.paused
    if came_back or resumed:
        what = (f"{now.upstream_name} answers again" if came_back else "Sending resumed")
        rest = (f"{invoices(now.pending)} waiting will be sent now." if now.pending
                else "Nothing is waiting.")
        out.append(Alert(what, rest))
    return out
