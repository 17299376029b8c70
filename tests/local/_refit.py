"""Slow references for the cross-validated score: the local fits as they stood before
the folds' sums were downdated (commit ae924ac), each fold refitted on all samples
with the held-out weights set to 0. Kept verbatim but for the order of the sums
``Z' W y`` and the seeding of the folds, which follow the engine's (round Z1), so that
the explainers' full fits can be compared with them bit for bit and their
``score_cv`` to rounding."""

import numpy as np
import torch


def gram(Z, y, w):
    Zt = torch.from_numpy(Z)
    equal = bool(np.all(w == w[:, :1]))
    Zw = Zt if equal else Zt * torch.from_numpy(w)[..., None]
    g = torch.bmm(Zw.transpose(1, 2), Zt).numpy()
    # As the engine sums Z' W y since round Z1 (einsum: the same order for a row alone
    # as in a batch), so that the values still compare bit for bit.
    rhs = np.einsum("rsm,rs->rm", Zw.numpy(), y)
    if equal:
        g, rhs = g * w[:, :1, None], rhs * w[:, :1]
    return g, rhs


def centred_gram(Z, y, w):
    sw = w.sum(axis=1)
    y_mean = (w * y).sum(axis=1) / sw
    g, rhs = gram(Z, y - y_mean[:, None], w)
    z_mean = np.einsum("rs,rsm->rm", w, Z) / sw[:, None]
    g = g - sw[:, None, None] * z_mean[:, :, None] * z_mean[:, None, :]
    return g, rhs, z_mean, y_mean, sw


def ridge(Z, y, w, active, alpha):
    Z = np.where(active[:, None, :], Z, 0.0)
    g, rhs, z_mean, y_mean, _ = centred_gram(Z, y, w)
    m = Z.shape[2]
    scale = np.trace(g, axis1=1, axis2=2)[:, None] / m
    diag = np.where(active, alpha + 1e-12 * scale, 1.0)
    g = g + diag[:, :, None] * np.eye(m)
    coef = np.linalg.solve(g, rhs[..., None])[..., 0] * active
    return coef, y_mean - np.einsum("rm,rm->r", z_mean, coef)


def lasso(Z, y, w, active, alpha, n_iter=500):
    from unboxed.local._engine import _largest_eigenvalue

    Z = np.where(active[:, None, :], Z, 0.0)
    g, rhs, z_mean, y_mean, sw = centred_gram(Z, y, w)
    g, rhs = g / sw[:, None, None], rhs / sw[:, None]
    step = 1.0 / np.maximum(_largest_eigenvalue(g) * 1.01, 1e-12)
    coef = np.zeros_like(rhs)
    momentum, t = coef.copy(), 1.0
    for _ in range(n_iter):
        grad = np.einsum("rmk,rk->rm", g, momentum) - rhs
        moved = momentum - step[:, None] * grad
        new = np.sign(moved) * np.maximum(np.abs(moved) - alpha * step[:, None], 0.0) * active
        t_new = (1 + np.sqrt(1 + 4 * t * t)) / 2
        momentum = new + ((t - 1) / t_new) * (new - coef)
        coef, t = new, t_new
    return coef, y_mean - np.einsum("rm,rm->r", z_mean, coef)


def constrained(Z, y, w, active, total, alpha=0.0):
    r, _, m = Z.shape
    Z = np.where(active[:, None, :], Z, 0.0)
    g, rhs = gram(Z, y, w)
    scale = np.trace(g, axis1=1, axis2=2)[:, None] / m
    diag = np.where(active, alpha + 1e-12 * scale, 1.0)
    kkt = np.zeros((r, m + 1, m + 1))
    kkt[:, :m, :m] = g + diag[:, :, None] * np.eye(m)
    kkt[:, :m, m] = kkt[:, m, :m] = active
    solution = np.linalg.solve(kkt, np.concatenate([rhs, total[:, None]], axis=1)[..., None])
    return solution[:, :m, 0] * active


def cross_validated_r2(Z, y, w, folds, fit):
    """``fit`` (weights (r, S)) -> (coef, intercept), refitted once per fold."""
    from unboxed.local._engine import _r2_of_residuals

    predicted = np.zeros_like(y)
    undefined = np.zeros(y.shape[0], dtype=bool)
    Zt = torch.from_numpy(Z)
    for fold in np.unique(folds):
        held = folds == fold
        train = np.where(held, 0.0, w)
        empty = train.sum(axis=1) <= 0
        undefined |= empty
        train[empty] = w[empty]
        coef, intercept = fit(train)
        fitted = torch.bmm(Zt, torch.from_numpy(coef)[..., None])[..., 0].numpy()
        predicted = np.where(held, intercept[:, None] + fitted, predicted)
    return np.where(undefined, np.nan, _r2_of_residuals(y, y - predicted, w))


def lime_model(Z, y, w, valid, *, regression, alpha, n_features):
    """Lime's ``_local_model`` as it was."""
    if regression == "ridge":
        coef, intercept = ridge(Z, y, w, valid, alpha)
    else:
        coef, intercept = lasso(Z, y, w, valid, alpha)
    if n_features is not None:
        from unboxed.local._engine import top_k_active

        chosen = top_k_active(coef, valid, n_features)
        coef, intercept = ridge(Z, y, w, chosen, alpha)
    return coef, intercept


def lime_fit(self, masks, y, w, valid, keys):
    """``Lime._fit`` as it was: bind it to a subclass of ``Lime``."""
    from unboxed.local._engine import row_folds, weighted_r2

    Z = masks.astype(np.float64)
    params = {"regression": self.regression, "alpha": self.alpha, "n_features": self.n_features}
    coef, intercept = lime_model(Z, y, w, valid, **params)
    info = {"score": weighted_r2(Z, y, w, coef, intercept), "intercept": intercept}
    if self.cv is not None:
        folds = row_folds(keys, y.shape[1], self.cv)
        fit = lambda train: lime_model(Z, y, train, valid, **params)  # noqa: E731
        info["score_cv"] = cross_validated_r2(Z, y, w, folds, fit)
    return coef, info


def kernel_shap_fit(self, masks, y, w, valid, keys):
    """``KernelShap._fit`` as it was: bind it to a subclass of ``KernelShap``."""
    from unboxed.local._engine import row_folds, weighted_r2

    prediction, base = y[:, 0], y[:, 1]
    Z, y, w = masks[:, 2:], y[:, 2:], w[:, 2:]

    def fit(weights):
        phi = constrained(Z, y - base[:, None], weights, valid, prediction - base, self.alpha)
        return phi, base

    phi, _ = fit(w)
    floats = Z.astype(np.float64)
    info = {"base_value": base, "prediction": prediction}
    info["score"] = weighted_r2(floats, y, w, phi, base)
    if self.cv is not None:
        folds = row_folds(keys, y.shape[1], self.cv)
        info["score_cv"] = cross_validated_r2(floats, y, w, folds, fit)
    return phi, info
