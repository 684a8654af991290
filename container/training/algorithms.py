"""The algorithms `train` offers: a name, and the scikit-learn classes behind it.

Estimator classes are named as "module:Class" strings and imported only when
a job uses them, so reading this table costs no scikit-learn import.
"""

from __future__ import annotations

from dataclasses import dataclass

from container.training.errors import HyperparameterError


@dataclass(frozen=True)
class Algorithm:
    name: str
    classifier: str | None  # "module:Class", imported only when used
    regressor: str | None
    # Distance- and gradient-based models need numerics on one scale; trees do not.
    scale_numerics: bool = False
    # Estimators that reject sparse matrices get dense one-hot output.
    dense_input: bool = False

    def estimator_path(self, problem_type: str) -> str:
        path = self.classifier if problem_type == "classification" else self.regressor
        if path is None:
            usable = [a.name for a in ALGORITHMS.values() if a.supports(problem_type)]
            raise HyperparameterError(
                f"algorithm={self.name!r} does not do {problem_type}; "
                f"for {problem_type} use one of {usable}"
            )
        return path

    def supports(self, problem_type: str) -> bool:
        return (
            self.classifier if problem_type == "classification" else self.regressor
        ) is not None


ALGORITHMS: dict[str, Algorithm] = {
    a.name: a
    for a in (
        Algorithm(
            "random_forest",
            "sklearn.ensemble:RandomForestClassifier",
            "sklearn.ensemble:RandomForestRegressor",
        ),
        Algorithm(
            "extra_trees",
            "sklearn.ensemble:ExtraTreesClassifier",
            "sklearn.ensemble:ExtraTreesRegressor",
        ),
        Algorithm(
            "hist_gradient_boosting",
            "sklearn.ensemble:HistGradientBoostingClassifier",
            "sklearn.ensemble:HistGradientBoostingRegressor",
            dense_input=True,
        ),
        Algorithm(
            "gradient_boosting",
            "sklearn.ensemble:GradientBoostingClassifier",
            "sklearn.ensemble:GradientBoostingRegressor",
        ),
        Algorithm(
            "decision_tree",
            "sklearn.tree:DecisionTreeClassifier",
            "sklearn.tree:DecisionTreeRegressor",
        ),
        Algorithm(
            "logistic_regression",
            "sklearn.linear_model:LogisticRegression",
            None,
            scale_numerics=True,
        ),
        Algorithm(
            "linear_regression",
            None,
            "sklearn.linear_model:LinearRegression",
            scale_numerics=True,
        ),
        Algorithm("ridge", None, "sklearn.linear_model:Ridge", scale_numerics=True),
        Algorithm(
            "knn",
            "sklearn.neighbors:KNeighborsClassifier",
            "sklearn.neighbors:KNeighborsRegressor",
            scale_numerics=True,
        ),
    )
}
DEFAULT_ALGORITHM = "random_forest"
