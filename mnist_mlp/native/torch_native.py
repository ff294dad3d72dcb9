"""The seed's training in plain PyTorch: eager autograd (``torch-*-native``) and a tuned form (``-native-fast``).

Both compute what Keras computes on torch: the softmax output renormalised, clipped to
``[1e-7, 1 - 1e-7]`` and logged (``keras/src/backend/torch/nn.py``), the mean over the batch, and
Keras' Adam (epsilon on the uncorrected sqrt(v), float32 bias correction). Not ``torch.optim.Adam``:
it adds eps 1e-8 to the *corrected* sqrt(v) and differs from Keras for thousands of steps; and the
weights are the seeded Keras model's, not ``nn.Linear``'s default init (``tests/test_native.py``
shows ``verify`` catching either).

* ``TorchNative``: the plain form. Parameters as leaf tensors, ``loss.backward()``, an Adam update
  per parameter in eager ops, batches sliced from NumPy on the host (``torch.from_numpy``).
* ``TorchNativeFast``: the data on the device once, batches gathered by the permutation with
  ``index_select`` into preallocated buffers, the bias folded into ``addmm``, Adam as Keras' own
  torch optimizer writes it (``torch._foreach_*`` over all six tensors at once,
  ``keras/src/backend/torch/optimizers/torch_adam.py``), the step count and the bias correction
  kept on the device as float32 tensors, the loss and hit sums on the device (no host sync per
  step). With ``compile_mode`` the loss and the Adam update go through ``torch.compile`` (on a GPU
  ``reduce-overhead``: CUDA graphs); on the CPU it stays eager by default, because for a model this
  small compiled code measured slower than eager (the issue's 0.75 vs 0.46 ms/step;
  ``benchmarks/torch_native_forms.py`` measures it again on the machine at hand).

``set_learning_rate``: the plain form computes alpha on the host every step from ``self.adam``,
so it replaces the settings; the fast form's alpha is computed on the device from the float32
tensor ``_lr``, filled in place, so compiled code and CUDA graphs (which read that tensor's memory
at every replay) see the new rate without a recompile (a Python float would be guarded on by value
and recompile at every change; the replaced ``self.adam`` keeps its betas, so their guards hold).
"""

from __future__ import annotations

import warnings
from dataclasses import replace

import numpy as np
import torch

from mnist_mlp.native.base import PROB_EPSILON, EpochStats, Trainer, keras_alpha
from mnist_mlp.reference.training import AdamSettings


def keras_loss(logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Keras' sparse categorical cross-entropy on torch: softmax, renormalise, clip, log, mean."""
    probs = torch.softmax(logits, dim=-1)
    probs = probs / probs.sum(dim=-1, keepdim=True)
    probs = torch.clamp(probs, PROB_EPSILON, 1.0 - PROB_EPSILON)
    return -torch.log(probs).gather(1, y[:, None]).mean()


def host_tensor(x: np.ndarray) -> torch.Tensor:
    """``torch.from_numpy`` of host rows that may be read-only (``data.load_mnist`` freezes the
    pixels the race hands over): torch warns it cannot mark a tensor read-only. These tensors are
    only ever read, so the warning is silenced here rather than 47 MB copied to avoid it."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="The given NumPy array is not writable")
        return torch.from_numpy(np.ascontiguousarray(x))


def unit(x: torch.Tensor) -> torch.Tensor:
    """uint8 pixels to float32 in [0, 1] on the device, ``x / 255`` as ``data.scale`` computes it
    (torch's division is IEEE's, so the values are ``scale``'s exactly); float rows pass through."""
    return x.to(torch.float32) / 255 if x.dtype == torch.uint8 else x


def default_compile_mode(device_type: str) -> str | None:
    """The fast form's ``torch.compile`` mode on a device: CUDA graphs (``reduce-overhead``) on a GPU,
    where launching ~30 small kernels per step dominates and a graph replays them in one go; none on
    the CPU, where eager ATen kernels already run back to back and compiled code measured slower."""
    return "reduce-overhead" if device_type == "cuda" else None


class TorchNative(Trainer):
    framework = "torch"
    variant = "native"
    summary = "eager autograd, an eager Keras-Adam update per parameter, batches sliced on the host"

    def __init__(self, weights, adam: AdamSettings, x_train: np.ndarray, y_train: np.ndarray, batch_size: int,
                 device: str | None = None) -> None:
        self.device = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
        self.adam, self.batch_size = adam, batch_size
        self.x, self.y = x_train, y_train.astype(np.int64)
        self.params = [torch.tensor(w, device=self.device, requires_grad=True) for w in weights]
        self.m = [torch.zeros_like(p, requires_grad=False) for p in self.params]
        self.v = [torch.zeros_like(p, requires_grad=False) for p in self.params]
        self.iterations = 0
        # 1 - beta in double, then float32, as Keras writes it
        self._c1, self._c2 = float(np.float32(1 - adam.beta_1)), float(np.float32(1 - adam.beta_2))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        w1, b1, w2, b2, w3, b3 = self.params
        h = torch.relu(unit(x) @ w1 + b1)
        h = torch.relu(h @ w2 + b2)
        return h @ w3 + b3

    def _loss(self, x: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        logits = self.forward(x)
        return keras_loss(logits, y), logits

    def _adam(self) -> None:
        self.iterations += 1
        alpha = torch.tensor(keras_alpha(self.adam, self.iterations), device=self.device)
        eps = np.float32(self.adam.epsilon).item()
        with torch.no_grad():
            for p, m, v in zip(self.params, self.m, self.v):
                g = p.grad
                m.add_((g - m) * self._c1)
                v.add_((g * g - v) * self._c2)
                p.sub_(m * alpha / (v.sqrt() + eps))
                p.grad = None

    def _batch(self, idx: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
        return (torch.from_numpy(self.x[idx]).to(self.device), torch.from_numpy(self.y[idx]).to(self.device))

    def epoch(self, order: np.ndarray) -> EpochStats:
        loss_sum = torch.zeros((), device=self.device)
        correct = torch.zeros((), dtype=torch.int64, device=self.device)
        steps = 0
        for start in range(0, len(order), self.batch_size):
            x, y = self._batch(order[start:start + self.batch_size])
            loss, logits = self._loss(x, y)
            loss.backward()
            self._adam()
            with torch.no_grad():
                loss_sum += loss.detach()
                correct += (logits.argmax(dim=1) == y).sum()
            steps += 1
        return EpochStats(loss=loss_sum.item() / steps, accuracy=correct.item() / len(order))  # .item() syncs

    @torch.no_grad()
    def probabilities(self, x: np.ndarray) -> np.ndarray:
        logits = self.forward(host_tensor(x).to(self.device))
        return torch.softmax(logits, dim=-1).cpu().numpy().astype(np.float32)

    def weights(self) -> list[np.ndarray]:
        return [p.detach().cpu().numpy().astype(np.float32) for p in self.params]

    def step_with_gradients(self, x: np.ndarray, y: np.ndarray) -> tuple[float, list[np.ndarray]]:
        xt = host_tensor(x).to(self.device)
        yt = torch.from_numpy(y.astype(np.int64)).to(self.device)
        loss, _ = self._loss(xt, yt)
        loss.backward()
        grads = [p.grad.detach().cpu().numpy().copy() for p in self.params]
        self._adam()
        return float(loss.item()), grads

    def set_learning_rate(self, lr: float) -> None:
        self.adam = replace(self.adam, learning_rate=float(lr))  # keras_alpha reads it at the next step


class TorchNativeFast(TorchNative):
    variant = "native-fast"
    summary = ("data on the device, index_select batches into fixed buffers, addmm, Keras' foreach Adam with "
               "on-device bias correction; torch.compile (reduce-overhead) on a GPU, eager on the CPU")

    def __init__(self, weights, adam: AdamSettings, x_train: np.ndarray, y_train: np.ndarray, batch_size: int,
                 device: str | None = None, compile_mode: str | None = "auto") -> None:
        super().__init__(weights, adam, x_train, y_train, batch_size, device)
        self.x_dev = host_tensor(x_train).to(self.device)
        self.y_dev = torch.from_numpy(self.y).to(self.device)
        self._xbuf = torch.empty((batch_size, x_train.shape[1]), dtype=self.x_dev.dtype, device=self.device)
        self._ybuf = torch.empty((batch_size,), dtype=torch.int64, device=self.device)
        f32 = dict(dtype=torch.float32, device=self.device)
        self._t = torch.zeros((), **f32)
        self._b1, self._b2 = torch.tensor(np.float32(adam.beta_1), **f32), torch.tensor(np.float32(adam.beta_2), **f32)
        self._lr = torch.tensor(np.float32(adam.learning_rate), **f32)
        self._eps = np.float32(adam.epsilon).item()
        if compile_mode == "auto":
            compile_mode = default_compile_mode(self.device.type)
        self.compile_mode = compile_mode
        self._loss_fn = self._fused_loss
        self._update = self._foreach_adam
        if compile_mode:
            self._loss_fn = torch.compile(self._fused_loss, mode=compile_mode, dynamic=False)
            self._update = torch.compile(self._foreach_adam, mode=compile_mode, dynamic=False)

    def _fused_loss(self, x: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        w1, b1, w2, b2, w3, b3 = self.params
        h = torch.relu(torch.addmm(b1, unit(x), w1))
        h = torch.relu(torch.addmm(b2, h, w2))
        logits = torch.addmm(b3, h, w3)
        return keras_loss(logits, y), logits

    @torch.no_grad()
    def _foreach_adam(self, grads: list[torch.Tensor]) -> None:
        """Keras' torch Adam (``torch_adam.py``): m*b1 + g*(1-b1), v*b2 + g*g*(1-b2), then
        w -= m*alpha / (sqrt(v) + eps), alpha from the float32 step count on the device."""
        self._t += 1
        alpha = self._lr * torch.sqrt(1 - self._b2 ** self._t) / (1 - self._b1 ** self._t)
        torch._foreach_mul_(self.m, self.adam.beta_1)
        torch._foreach_add_(self.m, grads, alpha=1 - self.adam.beta_1)
        torch._foreach_mul_(self.v, self.adam.beta_2)
        torch._foreach_add_(self.v, torch._foreach_mul(grads, grads), alpha=1 - self.adam.beta_2)
        torch._foreach_add_(self.params, torch._foreach_div(torch._foreach_mul(self.m, alpha),
                                                            torch._foreach_add(torch._foreach_sqrt(self.v), self._eps)),
                            alpha=-1)

    def _train(self, x: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        loss, logits = self._loss_fn(x, y)
        grads = torch.autograd.grad(loss, self.params)
        self._update(list(grads))
        return loss.detach(), logits.detach()

    def epoch(self, order: np.ndarray) -> EpochStats:
        perm = torch.from_numpy(order.astype(np.int64)).to(self.device)
        losses = torch.empty((-(-len(order) // self.batch_size),), device=self.device)
        correct = torch.zeros((), dtype=torch.int64, device=self.device)
        for step, start in enumerate(range(0, len(order), self.batch_size)):
            idx = perm[start:start + self.batch_size]
            if len(idx) == self.batch_size:
                x = torch.index_select(self.x_dev, 0, idx, out=self._xbuf)
                y = torch.index_select(self.y_dev, 0, idx, out=self._ybuf)
            else:  # a partial last batch (smoke runs only)
                x, y = self.x_dev[idx], self.y_dev[idx]
            loss, logits = self._train(x, y)
            losses[step] = loss
            correct += (logits.argmax(dim=1) == y).sum()
        step_losses = losses.cpu().numpy()  # waits for the device
        return EpochStats(loss=float(step_losses.mean(dtype=np.float64)), accuracy=correct.item() / len(order),
                          step_losses=step_losses)

    def step_with_gradients(self, x: np.ndarray, y: np.ndarray) -> tuple[float, list[np.ndarray]]:
        xt = host_tensor(x).to(self.device)
        yt = torch.from_numpy(y.astype(np.int64)).to(self.device)
        loss, _ = self._loss_fn(xt, yt)
        grads = torch.autograd.grad(loss, self.params)
        out = [g.detach().cpu().numpy().copy() for g in grads]
        self._update(list(grads))
        return float(loss.item()), out

    def set_learning_rate(self, lr: float) -> None:
        super().set_learning_rate(lr)
        self._lr.fill_(np.float32(lr).item())  # in place: the compiled update and its CUDA graph read this memory


IMPLEMENTATIONS = {"native": TorchNative, "native-fast": TorchNativeFast}
