"""Decision tree (scikit-learn), depth and leaf size chosen on validation, rules as text.

Missing values go to the tree as they are (scikit-learn learns which side they take). The fitted
tree is kept as its node arrays (children, features, thresholds, default side for missing values,
leaf probabilities): plain JSON, predicted with a vectorised walk, explained exactly with shap's
TreeExplainer on the same arrays.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from toolkit.models.estimators._base import Batch, Scorer, group_columns
from toolkit.models.estimators._fastshap import TreeSplits, shap_by_codes

DEPTHS = (2, 3, 4, 5, 6)
LEAF_SHARES = (0.005, 0.02, 0.05)


class DecisionTreeModel(Scorer):
    """A single classification tree; raw score = leaf share of positives."""

    name = "tree"
    title = "Decision tree"
    raw_scale = "probability"

    def _fit(
        self, train: Batch, y: np.ndarray, val: Batch, y_val: np.ndarray, *, seed: int
    ) -> None:
        from sklearn.metrics import roc_auc_score
        from sklearn.tree import DecisionTreeClassifier, export_text

        X, Xv = train.X, val.X
        n = len(y)
        best: tuple[float, Any, dict[str, Any]] | None = None
        search = []
        grid = [(d, sh) for d in DEPTHS for sh in LEAF_SHARES]
        if self.params.get("config"):
            grid = [(self.params["config"]["max_depth"], self.params["config"]["leaf_share"])]
        for depth, share in grid:
            leaf = max(5, int(round(share * n)))
            clf = DecisionTreeClassifier(
                max_depth=depth, min_samples_leaf=leaf, random_state=seed
            ).fit(X, y)
            auc = float(roc_auc_score(y_val, clf.predict_proba(Xv)[:, 1]))
            cfg = {"max_depth": depth, "min_samples_leaf": leaf, "leaf_share": share}
            search.append({**cfg, "val_roc_auc": auc})
            # prefer the simpler tree unless the bigger one is clearly better
            if best is None or auc > best[0] + 1e-3:
                best = (auc, clf, cfg)
        assert best is not None
        _, clf, cfg = best
        self.chosen_ = {**cfg, "search": search, "criterion": "validation ROC-AUC"}
        t = clf.tree_
        self.tree_ = {
            "children_left": t.children_left.astype(np.int64).tolist(),
            "children_right": t.children_right.astype(np.int64).tolist(),
            "children_default": np.where(
                t.missing_go_to_left.astype(bool), t.children_left, t.children_right
            )
            .astype(np.int64)
            .tolist(),
            "features": t.feature.astype(np.int64).tolist(),
            "thresholds": t.threshold.astype(np.float64).tolist(),
            # share of positives in each node (sklearn stores class fractions)
            "values": (t.value[:, 0, 1] / t.value[:, 0, :].sum(axis=1)).astype(np.float64).tolist(),
            "node_sample_weight": t.weighted_n_node_samples.astype(np.float64).tolist(),
        }
        self.rules_ = export_text(
            clf, feature_names=list(self.schema.encoded_names), show_weights=False, decimals=3
        )

    def _arrays(self) -> dict[str, np.ndarray]:
        t = self.tree_
        return {
            "left": np.asarray(t["children_left"], dtype=np.int64),
            "right": np.asarray(t["children_right"], dtype=np.int64),
            "default": np.asarray(t["children_default"], dtype=np.int64),
            "feature": np.asarray(t["features"], dtype=np.int64),
            "threshold": np.asarray(t["thresholds"], dtype=np.float64),
            "value": np.asarray(t["values"], dtype=np.float64),
        }

    def raw(self, batch: Batch) -> np.ndarray:
        a = self._arrays()
        # scikit-learn compares float32 inputs with float64 thresholds; so does this walk
        X = batch.X.astype(np.float32).astype(np.float64)
        node = np.zeros(len(X), dtype=np.int64)
        rows = np.arange(len(X))
        for _ in range(len(a["left"])):
            internal = a["left"][node] >= 0
            if not internal.any():
                break
            r = rows[internal]
            nd = node[internal]
            x = X[r, a["feature"][nd]]
            go_left = x <= a["threshold"][nd]
            nxt = np.where(go_left, a["left"][nd], a["right"][nd])
            node[internal] = np.where(np.isnan(x), a["default"][nd], nxt)
        return a["value"][node]

    def _explainer(self) -> Any:
        import warnings

        with warnings.catch_warnings():
            # shap's import touches matplotlib colormap APIs that newer matplotlib deprecates
            warnings.simplefilter("ignore", PendingDeprecationWarning)
            warnings.simplefilter("ignore", DeprecationWarning)
            import shap

        a = self._arrays()
        tree = {
            "children_left": a["left"],
            "children_right": a["right"],
            "children_default": a["default"],
            "features": a["feature"],
            "thresholds": a["threshold"],
            "values": a["value"][:, None],
            "node_sample_weight": np.asarray(self.tree_["node_sample_weight"], dtype=np.float64),
        }
        return shap.TreeExplainer({"trees": [tree]})

    def contributions(self, batch: Batch) -> tuple[np.ndarray, np.ndarray]:

        a = self._arrays()
        explainer = self._explainer()
        X = batch.X.astype(np.float32).astype(np.float64)
        internal = np.flatnonzero(a["left"] >= 0)
        splits = TreeSplits(
            feature=a["feature"][internal],
            threshold=a["threshold"][internal],
            default_left=a["default"][internal] == a["left"][internal],
            rule="le",
        )

        def explain_tree(_i: int, rows: np.ndarray) -> np.ndarray:
            return np.asarray(explainer.shap_values(X[rows]), dtype=np.float64)

        values = shap_by_codes(X, [splits], explain_tree, X.shape[1])
        base = float(np.ravel(explainer.expected_value)[0])
        phi = group_columns(values, self.schema.groups, len(self.schema.features))
        return phi, np.full(len(batch), base)

    def _state(self) -> dict[str, Any]:
        return {"tree": self.tree_, "rules": self.rules_, "chosen": self.chosen_}

    def _load(self, state: dict[str, Any], files: dict[str, bytes]) -> None:
        self.tree_ = state["tree"]
        self.rules_ = state.get("rules", "")
        self.chosen_ = state.get("chosen", {})

    def leaves(self) -> list[dict[str, Any]]:
        """Every leaf as a rule a person reads: its conditions, its share of the training
        customers and its share of positives, largest leaf first (missing values follow the
        side the tree learned; the full text rules are saved beside the report)."""
        a = self._arrays()
        weight = np.asarray(self.tree_["node_sample_weight"], dtype=np.float64)
        names = list(self.schema.encoded_names)
        out: list[dict[str, Any]] = []
        stack: list[tuple[int, list[str]]] = [(0, [])]
        while stack:
            node, path = stack.pop()
            if a["left"][node] < 0:
                out.append(
                    {
                        "rule": " and ".join(path) or "every customer",
                        "support": float(weight[node] / weight[0]) if weight[0] else 0.0,
                        "positive_rate": float(a["value"][node]),
                    }
                )
                continue
            f = names[int(a["feature"][node])]
            t = float(a["threshold"][node])
            stack.append((int(a["right"][node]), [*path, f"{f} > {t:.4g}"]))
            stack.append((int(a["left"][node]), [*path, f"{f} <= {t:.4g}"]))
        return sorted(out, key=lambda leaf: -leaf["support"])

    def describe(self) -> dict[str, Any]:
        return {
            "hyperparameters": {k: self.chosen_.get(k) for k in ("max_depth", "min_samples_leaf")},
            "chosen_by": "validation ROC-AUC over max_depth x min_samples_leaf",
            "n_leaves": int(sum(1 for c in self.tree_["children_left"] if c < 0)),
            "leaves": self.leaves(),
            "rules": self.rules_,
        }
