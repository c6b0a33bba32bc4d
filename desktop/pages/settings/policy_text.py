"""The threshold policy in an operator's words (Settings > False marks): one sentence saying what the
bar does for this gallery, and the decision in force in small print for the technical reader."""

from __future__ import annotations

from html import escape

from core.gallery.policy import ThresholdDecision

SOURCE_WORDS = {
    "table": "from the model's table, measured on identity-disjoint photos",
    "site": "from this site's own photos",
    "manual": "set by hand",
    "model default": "the model's default (it has no measured table)",
}


def people(n: int) -> str:
    return f"{n:,} {'person' if n == 1 else 'people'}"


def policy_sentence(decision: ThresholdDecision) -> str:
    """One plain sentence: what the bar is and what it keeps from happening with this many enrolled."""
    sessions = f"1 of {decision.sessions_per_false_mark:,} sessions"
    enrolled = f"with {people(decision.enrolled)} enrolled" if decision.enrolled else "with nobody enrolled yet"
    if decision.source == "manual":
        return (f"The bar was set by hand (cosine {decision.threshold:.3f}): it does not follow the people "
                f"enrolled, so nothing keeps a stranger from being marked in more than {sessions}; "
                f"“Use the policy again” lets the bar follow the gallery.")
    if decision.source == "model default":
        return (f"Rollcall names a face only when its match confidence reaches 50, this model's default bar: it "
                f"has no measured table, so how often a stranger may be marked {enrolled} is not known.")
    return (f"Rollcall names a face only when its match confidence reaches 50: {enrolled}, that keeps a "
            f"stranger from being marked in more than {sessions}; the bar rises as people are enrolled.")


def decision_details(decision: ThresholdDecision, stored_origin: str = "", stored_threshold: float = 0.0) -> str:
    """Rich text in small print: people enrolled, the bar as a cosine, its source and the reason
    (and, for a model whose threshold was calibrated by an older version, that it is no longer used)."""
    lines = [f"{people(decision.enrolled)} enrolled · the bar: cosine {decision.threshold:.4f}, "
             f"top-1 ahead of top-2 by {decision.margin:.4f} · "
             f"{SOURCE_WORDS.get(decision.source, decision.source)}",
             f"Why: {decision.reason}."]
    if stored_origin == "calibrated":
        lines.append(f"An earlier suggested threshold ({stored_threshold:.3f}) is no longer applied: the policy "
                     f"weighs the site's photos itself; set it by hand to keep it.")
    return "<small>" + "<br>".join(escape(line) for line in lines) + "</small>"
