#!/usr/bin/env python3
"""Writes the PyTorch-made checkpoint fixtures for Credence's checkpoint tests.

Run with the reference environment (torch, numpy; the `safetensors` package is not
needed — the format is written by hand below, byte for byte as
`safetensors.torch.save_file(model.state_dict(), path)` writes it):

    /opt/anchor-venv/bin/python scripts/make_pytorch_fixture.py

Outputs, in Tests/CredenceNNTests/Fixtures/ (a few KB in all):

  pytorch_mlp.safetensors     state dict of nn.Sequential(Flatten, Linear(12,16), ReLU,
                              Linear(16,3)) — no Credence metadata, as PyTorch saves it
  pytorch_mlp_io.safetensors  "inputs" [4,1,3,4] and "logits" [4,3] (eval mode)
  pytorch_cnn.safetensors     state dict of nn.Sequential(Conv2d(1,4,3,p=1), ReLU,
                              MaxPool2d(2), Conv2d(4,8,3,p=1), ReLU, MaxPool2d(2),
                              Flatten, Linear(32,5))
  pytorch_cnn_io.safetensors  "inputs" [4,1,8,8] and "logits" [4,5]
  pytorch_bn1d.safetensors    state dict of nn.Sequential(Linear(6,8), BatchNorm1d(8), ReLU,
                              Linear(8,3)) after three train-mode batches (running_mean,
                              running_var, num_batches_tracked as int64), γ and β perturbed
  pytorch_bn1d_io.safetensors "inputs" [8,6], "logits_eval", "logits_train" (train mode on the
                              same batch) and the BatchNorm's buffers after that train pass
                              ("running_mean_after", "running_var_after")
  pytorch_bn2d.safetensors    the same for nn.Sequential(Conv2d(2,4,3,p=1), BatchNorm2d(4), ReLU,
  pytorch_bn2d_io.safetensors Flatten, Linear(64,3)) on [5,2,4,4]
  pytorch_resnet.safetensors  state dict of a CIFAR-style ResNet (BasicBlock, projection
                              shortcuts; one block per stage, widths 4-8-16) after three
                              train-mode batches, γ and β perturbed; `_io` holds "inputs"
                              [3,1,12,12], "logits_eval", "logits_train" and every buffer
                              after that train pass ("after.<name>")
  pytorch_densenet.safetensors the same for a DenseNet-BC (growth 4, blocks of 2 layers, one
                              transition) on [3,1,8,8]
  pytorch_layernorm.safetensors nn.Sequential(Conv2d(1,2,3,p=1), LayerNorm([2,4,4]), ReLU,
                              Flatten, Linear(32,3)) with γ, β perturbed; `_io` as the MLP's
  pytorch_architectures.json  names and shapes of the state dicts of LeNet-5, ResNet-20 and
                              DenseNet-BC-40 (k = 12) for 1×28×28 inputs and 10 classes
  dtypes.safetensors          one vector stored as F32, F64, F16 and BF16, plus the
                              F16/BF16 values widened back to F32 by torch ("f16_as_f32",
                              "bf16_as_f32") so the reader's conversions can be checked

Everything is seeded (torch.manual_seed(0)); rerunning gives identical files, except that
pytorch_cnn_io's logits may differ in their last bits (oneDNN chooses its convolution
algorithm at run time; the tests' tolerance is far above that).
"""

import json
import os
import struct
from collections import OrderedDict

import numpy as np
import torch
from torch import nn

FIXTURES = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "Tests", "CredenceNNTests", "Fixtures")

# Little-endian numpy dtype, safetensors dtype name and element alignment for each torch dtype.
DTYPES = {
    torch.float32: ("<f4", "F32", 4),
    torch.float64: ("<f8", "F64", 8),
    torch.float16: ("<f2", "F16", 2),
    torch.bfloat16: (None, "BF16", 2),
    torch.int64: ("<i8", "I64", 8),
}


def tensor_bytes(t: torch.Tensor) -> bytes:
    t = t.detach().contiguous().cpu()
    np_dtype, _, _ = DTYPES[t.dtype]
    if t.dtype == torch.bfloat16:  # numpy has no bfloat16: take the raw 16-bit patterns
        return t.view(torch.int16).numpy().astype("<i2").tobytes()
    return t.numpy().astype(np_dtype).tobytes()


def save_safetensors(tensors: dict, path: str, metadata: dict | None = None) -> None:
    """The safetensors layout: u64-LE header length N, N bytes of JSON (padded with
    spaces to a multiple of 8), then the tensors' raw little-endian bytes. Like the
    reference writer, tensors are laid out sorted by (alignment descending, name)."""
    order = sorted(tensors, key=lambda name: (-DTYPES[tensors[name].dtype][2], name))
    header, blobs, offset = {}, [], 0
    if metadata is not None:
        header["__metadata__"] = metadata
    for name in order:
        t = tensors[name]
        blob = tensor_bytes(t)
        header[name] = {"dtype": DTYPES[t.dtype][1], "shape": list(t.shape), "data_offsets": [offset, offset + len(blob)]}
        blobs.append(blob)
        offset += len(blob)
    text = json.dumps(header, separators=(",", ":")).encode("utf-8")
    text += b" " * ((8 - len(text) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)))
        f.write(text)
        for blob in blobs:
            f.write(blob)


def write_model(name: str, model: nn.Module, inputs: torch.Tensor) -> None:
    model.eval()
    with torch.no_grad():
        logits = model(inputs)
    save_safetensors({k: v for k, v in model.state_dict().items()}, os.path.join(FIXTURES, f"pytorch_{name}.safetensors"))
    save_safetensors({"inputs": inputs, "logits": logits}, os.path.join(FIXTURES, f"pytorch_{name}_io.safetensors"))
    print(f"{name}: {sum(p.numel() for p in model.parameters())} parameters, logits {list(logits.shape)}")


def perturb_affine(norm: nn.Module) -> None:
    """γ ~ U(0.5, 1.5) and β ~ N(0, 0.3²) instead of a normalization layer's ones and zeros."""
    with torch.no_grad():
        norm.weight.copy_(torch.rand_like(norm.weight) + 0.5)
        norm.bias.copy_(torch.randn_like(norm.bias) * 0.3)


def logits_in_both_modes(model: nn.Module, batch, warm: int, size: int):
    """Three train-mode batches of `warm` through `model` (its running statistics), then one batch
    of `size`: the state dict before it, and its eval-mode and train-mode logits."""
    with torch.no_grad():
        model.train()
        for _ in range(3):
            model(batch(warm))
    inputs = batch(size)
    state = {k: v.clone() for k, v in model.state_dict().items()}
    with torch.no_grad():
        model.eval()
        logits_eval = model(inputs)
        model.train()
        logits_train = model(inputs)
    return inputs, state, logits_eval, logits_train


def write_batchnorm_model(name: str, model: nn.Module, bn: nn.Module, batch) -> None:
    """A model with batch normalization whose running statistics have seen three training
    batches and whose γ, β are not the defaults; then eval-mode logits and train-mode logits
    on one batch, and the buffers after that train-mode pass."""
    perturb_affine(bn)
    inputs, state, logits_eval, logits_train = logits_in_both_modes(model, batch, 16, 8 if name == "bn1d" else 5)
    save_safetensors(state, os.path.join(FIXTURES, f"pytorch_{name}.safetensors"))
    save_safetensors({"inputs": inputs, "logits_eval": logits_eval, "logits_train": logits_train,
                      "running_mean_after": bn.running_mean, "running_var_after": bn.running_var},
                     os.path.join(FIXTURES, f"pytorch_{name}_io.safetensors"))
    print(f"{name}: {sum(p.numel() for p in model.parameters())} parameters, {int(state['1.num_batches_tracked'])} batches tracked")


class BasicBlock(nn.Module):
    """He et al.'s CIFAR basic block with a projection shortcut ("option B") where the shape changes."""

    def __init__(self, inputs: int, outputs: int, stride: int):
        super().__init__()
        self.conv1 = nn.Conv2d(inputs, outputs, 3, stride=stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(outputs)
        self.conv2 = nn.Conv2d(outputs, outputs, 3, stride=1, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(outputs)
        self.shortcut = nn.Sequential()
        if stride != 1 or inputs != outputs:
            self.shortcut = nn.Sequential(nn.Conv2d(inputs, outputs, 1, stride=stride, bias=False), nn.BatchNorm2d(outputs))

    def forward(self, x):
        out = torch.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return torch.relu(out + self.shortcut(x))


class ResNet(nn.Module):
    def __init__(self, channels: int, blocks: int, widths, classes: int):
        super().__init__()
        self.conv1 = nn.Conv2d(channels, widths[0], 3, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(widths[0])
        layers, inputs = [], widths[0]
        for stage, width in enumerate(widths):
            stage_blocks = []
            for b in range(blocks):
                stage_blocks.append(BasicBlock(inputs, width, 2 if stage > 0 and b == 0 else 1))
                inputs = width
            layers.append(nn.Sequential(*stage_blocks))
        self.layer1, self.layer2, self.layer3 = layers
        self.linear = nn.Linear(widths[-1], classes)

    def forward(self, x):
        out = torch.relu(self.bn1(self.conv1(x)))
        out = self.layer3(self.layer2(self.layer1(out)))
        return self.linear(out.mean(dim=(2, 3)))


class DenseLayer(nn.Module):
    """torchvision's bottleneck layer: BN-ReLU-conv1x1(4k)-BN-ReLU-conv3x3(k), concatenated to the input."""

    def __init__(self, inputs: int, growth: int):
        super().__init__()
        self.norm1 = nn.BatchNorm2d(inputs)
        self.relu1 = nn.ReLU()
        self.conv1 = nn.Conv2d(inputs, 4 * growth, 1, bias=False)
        self.norm2 = nn.BatchNorm2d(4 * growth)
        self.relu2 = nn.ReLU()
        self.conv2 = nn.Conv2d(4 * growth, growth, 3, padding=1, bias=False)

    def forward(self, x):
        new = self.conv2(self.relu2(self.norm2(self.conv1(self.relu1(self.norm1(x))))))
        return torch.cat([x, new], 1)


class DenseNet(nn.Module):
    """torchvision's DenseNet-BC module tree (features.denseblockN.denselayerM, features.transitionN, classifier)."""

    def __init__(self, channels: int, growth: int, block_layers, classes: int):
        super().__init__()
        features = [("conv0", nn.Conv2d(channels, 2 * growth, 3, padding=1, bias=False))]
        width = 2 * growth
        for b, count in enumerate(block_layers):
            block = nn.Sequential()
            for l in range(count):
                block.add_module(f"denselayer{l + 1}", DenseLayer(width, growth))
                width += growth
            features.append((f"denseblock{b + 1}", block))
            if b < len(block_layers) - 1:
                features.append((f"transition{b + 1}", nn.Sequential(OrderedDict([
                    ("norm", nn.BatchNorm2d(width)), ("relu", nn.ReLU()),
                    ("conv", nn.Conv2d(width, width // 2, 1, bias=False)), ("pool", nn.AvgPool2d(2, 2))]))))
                width //= 2
        features.append(("norm5", nn.BatchNorm2d(width)))
        self.features = nn.Sequential(OrderedDict(features))
        self.classifier = nn.Linear(width, classes)

    def forward(self, x):
        return self.classifier(torch.relu(self.features(x)).mean(dim=(2, 3)))


def lenet5() -> nn.Module:
    return nn.Sequential(nn.Conv2d(1, 6, 5, padding=2), nn.ReLU(), nn.MaxPool2d(2), nn.Conv2d(6, 16, 5), nn.ReLU(),
                         nn.MaxPool2d(2), nn.Flatten(), nn.Linear(400, 120), nn.ReLU(), nn.Linear(120, 84), nn.ReLU(),
                         nn.Linear(84, 10))


def write_graph_model(name: str, model: nn.Module, batch) -> None:
    """A graph model whose batch-norm layers have seen three training batches and whose γ, β are
    perturbed; eval- and train-mode logits on one batch and every buffer after the train pass."""
    for module in model.modules():
        if isinstance(module, nn.BatchNorm2d):
            perturb_affine(module)
    inputs, state, logits_eval, logits_train = logits_in_both_modes(model, batch, 6, 3)
    after = {f"after.{k}": v.clone() for k, v in model.state_dict().items() if "running" in k or "num_batches" in k}
    save_safetensors(state, os.path.join(FIXTURES, f"pytorch_{name}.safetensors"))
    save_safetensors({"inputs": inputs, "logits_eval": logits_eval, "logits_train": logits_train, **after},
                     os.path.join(FIXTURES, f"pytorch_{name}_io.safetensors"))
    print(f"{name}: {sum(p.numel() for p in model.parameters())} parameters, {len(state)} tensors")


def main() -> None:
    os.makedirs(FIXTURES, exist_ok=True)
    torch.manual_seed(0)

    mlp = nn.Sequential(nn.Flatten(), nn.Linear(12, 16), nn.ReLU(), nn.Linear(16, 3))
    write_model("mlp", mlp, torch.randn(4, 1, 3, 4))

    cnn = nn.Sequential(
        nn.Conv2d(1, 4, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(4, 8, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Flatten(), nn.Linear(8 * 2 * 2, 5),
    )
    write_model("cnn", cnn, torch.randn(4, 1, 8, 8))

    values = torch.cat([
        torch.randn(8) * 3,
        torch.tensor([0.0, -0.0, 1.0, -2.5, 65504.0, 1e-7, 3e-5, float("inf"), float("-inf")]),
    ])
    save_safetensors({
        "f32": values,
        "f64": values.double(),
        "f16": values.half(),
        "bf16": values.bfloat16(),
        "f16_as_f32": values.half().float(),
        "bf16_as_f32": values.bfloat16().float(),
    }, os.path.join(FIXTURES, "dtypes.safetensors"))

    # Batch normalization (drawn after everything above, so the earlier files stay byte for byte).
    bn1d = nn.Sequential(nn.Linear(6, 8), nn.BatchNorm1d(8), nn.ReLU(), nn.Linear(8, 3))
    write_batchnorm_model("bn1d", bn1d, bn1d[1], lambda n: torch.randn(n, 6) * 2 + 0.5)
    bn2d = nn.Sequential(nn.Conv2d(2, 4, 3, padding=1), nn.BatchNorm2d(4), nn.ReLU(), nn.Flatten(), nn.Linear(64, 3))
    write_batchnorm_model("bn2d", bn2d, bn2d[1], lambda n: torch.randn(n, 2, 4, 4) * 2 + 0.5)

    # Graph models (drawn after everything above, so the earlier files stay byte for byte).
    write_graph_model("resnet", ResNet(1, 1, [4, 8, 16], 5), lambda n: torch.randn(n, 1, 12, 12) * 2 + 0.5)
    write_graph_model("densenet", DenseNet(1, 4, [2, 2], 5), lambda n: torch.randn(n, 1, 8, 8) * 2 + 0.5)
    names = {}
    for name, model in [("lenet5", lenet5()), ("resnet20", ResNet(1, 3, [16, 32, 64], 10)),
                        ("densenet", DenseNet(1, 12, [6, 6, 6], 10))]:
        names[name] = {
            "parameters": [[k, list(v.shape)] for k, v in model.named_parameters()],
            "buffers": [[k, list(v.shape)] for k, v in model.named_buffers()],
        }
        print(f"{name}: {sum(p.numel() for p in model.parameters())} parameters")
    with open(os.path.join(FIXTURES, "pytorch_architectures.json"), "w") as f:
        json.dump(names, f, indent=1)
        f.write("\n")

    # Layer normalization over a conv layer's [C, H, W] (γ and β perturbed).
    layernorm = nn.Sequential(nn.Conv2d(1, 2, 3, padding=1), nn.LayerNorm([2, 4, 4]), nn.ReLU(), nn.Flatten(), nn.Linear(32, 3))
    perturb_affine(layernorm[1])
    write_model("layernorm", layernorm, torch.randn(3, 1, 4, 4) * 2 + 0.5)

    total = sum(os.path.getsize(os.path.join(FIXTURES, f)) for f in os.listdir(FIXTURES))
    print(f"fixtures: {total} bytes in {os.path.normpath(FIXTURES)}")


if __name__ == "__main__":
    main()
