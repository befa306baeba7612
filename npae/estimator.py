"""Estimator conventions of scikit-learn, without importing it (README.md, "contracts").

Hyperparameters are the ``__init__`` arguments, stored unchanged under their own
names; ``get_params`` reads them back from the signature, ``set_params`` changes them
(validation happens in ``fit``), and learned state ends in ``_``. Every npae model,
the Gaussian mixture and the linear probe share this one implementation.
"""
from __future__ import annotations

import inspect


class Estimator:
    """``get_params``/``set_params`` and a ``repr`` that shows the non-default settings."""

    #: what scikit-learn should treat the estimator as: "transformer", "classifier",
    #: "density_estimator" (see ``__sklearn_tags__``)
    _sklearn_kind = "transformer"

    @classmethod
    def _param_names(cls):
        sig = inspect.signature(cls.__init__)
        return [p for p in sig.parameters if p != "self"]

    def get_params(self, deep=True):
        """The hyperparameters by name. ``deep`` is accepted for scikit-learn; no npae
        hyperparameter is itself an estimator, so deep and shallow are the same."""
        return {name: getattr(self, name) for name in self._param_names()}

    def set_params(self, **params):
        valid = set(self._param_names())
        for key, value in params.items():
            if key not in valid:
                raise ValueError(f"{key!r} is not a hyperparameter of {type(self).__name__}; "
                                 f"valid ones are {sorted(valid)}")
            setattr(self, key, value)
        return self

    def __sklearn_is_fitted__(self):
        """For ``sklearn.utils.validation.check_is_fitted``."""
        return hasattr(self, "n_features_in_")

    def __sklearn_tags__(self):
        """The estimator tags scikit-learn >= 1.6 asks every estimator for.

        Only scikit-learn calls this, so scikit-learn is already imported when it runs;
        it is imported here, lazily, and nowhere else: npae does not depend on it.
        """
        from sklearn.utils import ClassifierTags, Tags, TargetTags, TransformerTags
        kind = self._sklearn_kind
        tags = Tags(estimator_type=None if kind == "transformer" else kind,
                    target_tags=TargetTags(required=kind == "classifier"),
                    transformer_tags=TransformerTags() if kind == "transformer" else None,
                    regressor_tags=None,
                    classifier_tags=ClassifierTags() if kind == "classifier" else None)
        return tags

    def __repr__(self):
        sig = inspect.signature(type(self).__init__)
        changed = [f"{k}={v!r}" for k, v in self.get_params().items()
                   if sig.parameters[k].default is inspect.Parameter.empty
                   or not _same(sig.parameters[k].default, v)]
        return f"{type(self).__name__}({', '.join(changed)})"


def _same(a, b):
    try:
        return bool(a == b)
    except Exception:
        return a is b
