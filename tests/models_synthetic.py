"""Synthetic features frames for the model tests (shaped like ``compute_features`` output)."""

from __future__ import annotations

import functools

import numpy as np
import pandas as pd


def features_frame(n: int = 800, seed: int = 0, *, origin: str | None = None) -> pd.DataFrame:
    """Customers with BTYD-like features and a repeat_purchase label that depends on them.

    Customers who bought recently and often buy again; ``gap_mean`` is missing without a repeat.
    """
    rng = np.random.default_rng(seed)
    T = rng.integers(30, 400, n).astype(float)
    frequency = rng.negative_binomial(1, 0.25, n).astype(np.int64)
    recency = np.where(frequency > 0, np.floor(T * rng.beta(3, 1.5, n)), 0.0)
    recency_days = (T - recency + 1).astype(np.int64)
    n_orders = frequency + 1 + rng.integers(0, 2, n)
    spend = np.round(n_orders * rng.lognormal(3.5, 0.6, n), 2)
    gap = np.where(frequency > 0, recency / np.maximum(frequency, 1), np.nan)
    cutoff = pd.Timestamp("2024-01-01")
    logit = (
        -0.4
        + 0.9 * np.log1p(frequency)
        - 0.012 * recency_days
        + 0.25 * np.log1p(spend) / 3
        + rng.normal(0, 0.6, n)
    )
    y = (rng.random(n) < 1 / (1 + np.exp(-logit))).astype(np.int64)
    df = pd.DataFrame(
        {
            "customer_id": pd.array([f"c{seed}_{i:05d}" for i in range(n)], dtype="string"),
            "first_purchase": cutoff - pd.to_timedelta(T + 1, unit="D"),
            "last_purchase": cutoff - pd.to_timedelta(recency_days, unit="D"),
            "recency_days": recency_days,
            "tenure_days": (T + 1).astype(np.int64),
            "frequency": frequency,
            "recency": recency,
            "T": T,
            "n_orders": n_orders,
            "lifetime_spend": spend,
            "monetary": np.where(frequency > 0, spend / n_orders, 0.0),
            "gap_mean": gap,
            "orders_90d": rng.poisson(np.where(recency_days < 90, 1.5, 0.0)),
            "repeat_purchase": y,
            "holdout_spend": y * rng.lognormal(3.5, 0.5, n),
        }
    )
    if origin is not None:
        df["origin"] = pd.Timestamp(origin)
    return df


def customer_table(n: int = 600, seed: int = 0) -> pd.DataFrame:
    """A Telco-like customer table: numeric and categorical columns and a Yes/No Churn target."""
    rng = np.random.default_rng(seed)
    tenure = rng.integers(1, 72, n)
    contract = rng.choice(["Month-to-month", "One year", "Two year"], n, p=[0.55, 0.25, 0.2])
    charges = np.round(rng.uniform(20, 110, n), 2)
    logit = -0.5 - 0.04 * tenure + 1.2 * (contract == "Month-to-month") + 0.01 * (charges - 60)
    churn = np.where(rng.random(n) < 1 / (1 + np.exp(-logit)), "Yes", "No")
    return pd.DataFrame(
        {
            "customerID": [f"{i:04d}-X" for i in range(n)],
            "tenure": tenure,
            "Contract": pd.Categorical(contract),
            "MonthlyCharges": charges,
            "Churn": churn,
        }
    )


@functools.cache
def trained_result(models: tuple[str, ...] = ("linear", "tree", "xgboost", "bgnbd")):
    """One training run on synthetic frames, shared by the test modules of a process."""
    from toolkit.models.training._train import train_models

    train = pd.concat(
        [
            features_frame(600, 11, origin="2023-09-01"),
            features_frame(600, 12, origin="2023-10-01"),
        ],
        ignore_index=True,
    )
    return train_models(train, features_frame(500, 13), models=models, horizon=90, n_boot=40)


@functools.cache
def report_of(models: tuple[str, ...] = ("linear", "tree", "xgboost", "bgnbd")) -> dict:
    from toolkit.reports.comparison import build_report

    return build_report(trained_result(models))
