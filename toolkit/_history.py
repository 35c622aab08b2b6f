"""How much history an estimate needs, in one place: the segments' names (loyalty), the CLV
of ``toolkit clv`` and ``toolkit run`` (value over a horizon) read these.

- :data:`MIN_REPEAT_CUSTOMERS`: below this many customers who bought on a second day, BG/NBD
  cannot tell how often customers buy and when they stop (a 3-day extract of Online Retail has
  9, and its fit flags parameters whose standard errors exceed them), and no segment can be told
  loyal.
- :data:`HISTORY_PER_HORIZON`: valuing customers over a horizon of H days needs at least this
  many times H days of history before the cutoff.
"""

MIN_REPEAT_CUSTOMERS = 20
HISTORY_PER_HORIZON = 2


def too_short_to_value(
    history_days: int,
    horizon_days: float,
    repeat_customers: int,
    consequence: str = "no expected value shown",
) -> str | None:
    """Why customers cannot be valued over ``horizon_days`` from this history, in one line
    ending with ``consequence`` (None when they can): fewer than ``HISTORY_PER_HORIZON x
    horizon`` days of history before the cutoff, or fewer than ``MIN_REPEAT_CUSTOMERS``
    customers who bought again.

    Examples
    --------
    >>> print(too_short_to_value(3, 90, 25))  # doctest: +NORMALIZE_WHITESPACE
    3 days of history before the cutoff: too little to value customers over 90 days
    (that needs 180 days, twice the horizon); no expected value shown
    >>> too_short_to_value(400, 90, 9).split(":")[0]
    'only 9 customers who bought again before the cutoff'
    >>> too_short_to_value(400, 90, 500) is None
    True
    """
    needed = HISTORY_PER_HORIZON * horizon_days
    short = history_days < needed
    few = repeat_customers < MIN_REPEAT_CUSTOMERS
    if not (short or few):
        return None
    days = f"{history_days:,} day{'' if history_days == 1 else 's'} of history"
    buyers = f"{repeat_customers:,} customer{'' if repeat_customers == 1 else 's'} who bought again"
    if short and few:
        what = f"{days} before the cutoff and {buyers}"
    elif short:
        what = f"{days} before the cutoff"
    else:
        what = f"only {buyers} before the cutoff"
    need = [
        f"{needed:g} days, twice the horizon" if short else "",
        f"{MIN_REPEAT_CUSTOMERS} repeat customers" if few else "",
    ]
    return (
        f"{what}: too little to value customers over {horizon_days:g} days (that needs "
        f"{', and '.join(n for n in need if n)}); {consequence}"
    )
