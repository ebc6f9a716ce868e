"""The PyTorch peer of bench_cspnet_step: one FlowMM training step (forward, backward,
clip by value, AdamW, EMA) of the same CSPNet (FlowMM's rfm_cspnet: pre-norm CSPLayers
with unit dots, the fractional-difference embedding and the num-atoms embedding; a
lattice head on [mean ‖ sum] pooling, a coordinate head) on a batch of the same shape:
the crystals' atom counts come from the C bench, the inputs are random (timing only).
Written the way the reference is (one edge MLP on the concatenated edge features), on
Debian's python3-torch, on the CPU.

Usage: cspnet_step.py SIZES_FILE HIDDEN LAYERS N_FREQ TIME_DIM THREADS STEPS
Prints "torch <version> threads <n> ms_per_step <median>"."""
import math
import sys
import time

import torch
from torch import nn


class CSPLayer(nn.Module):
    def __init__(self, h, n_freq, lat_dim):
        super().__init__()
        d_in = 3 + 2 * h + lat_dim + 6 * n_freq + h
        self.num_atom_embedding = nn.Linear(100, h, bias=False)
        self.edge_mlp = nn.Sequential(nn.Linear(d_in, h), nn.SiLU(), nn.Linear(h, h), nn.SiLU())
        self.node_mlp = nn.Sequential(nn.Linear(2 * h, h), nn.SiLU(), nn.Linear(h, h), nn.SiLU())
        self.layer_norm = nn.LayerNorm(h)

    def forward(self, h, unit, lat_e, phi, onehot_g, src, dst, e2g, inv_deg):
        g = self.layer_norm(h)
        x = torch.cat([unit, g[src], g[dst], lat_e, phi, self.num_atom_embedding(onehot_g)[e2g]], dim=1)
        m = self.edge_mlp(x)
        agg = torch.zeros_like(h).index_add_(0, src, m) * inv_deg
        return h + self.node_mlp(torch.cat([g, agg], dim=1))


class CSPNet(nn.Module):
    def __init__(self, h, layers, n_freq, time_dim, lat_dim=6):
        super().__init__()
        self.n_freq = n_freq
        self.time_emb = nn.Linear(1, time_dim, bias=False)
        self.node_embedding = nn.Linear(100, h, bias=False)
        self.atom_latent_emb = nn.Linear(h + time_dim, h, bias=False)
        self.layers = nn.ModuleList([CSPLayer(h, n_freq, lat_dim) for _ in range(layers)])
        self.final_layer_norm = nn.LayerNorm(h)
        self.coord_out = nn.Linear(h, 3, bias=False)
        self.lattice_out = nn.Linear(2 * h, 6)

    def forward(self, t, types_onehot, frac, lat_in, lattice, n2g, src, dst, e2g, onehot_g, inv_deg, counts):
        temb = self.time_emb(t[:, None])
        h = self.atom_latent_emb(torch.cat([self.node_embedding(types_onehot), temb[n2g]], dim=1))
        delta = frac[dst] - frac[src]
        delta = delta - torch.floor(delta + 0.5)  # the torus log map
        k = torch.arange(self.n_freq, dtype=delta.dtype) * 2 * math.pi
        ang = (delta[:, :, None] * k).reshape(delta.shape[0], -1)
        phi = torch.cat([torch.sin(ang), torch.cos(ang)], dim=1)
        gram = lattice @ lattice.transpose(1, 2)
        gd = torch.einsum("eij,ej->ei", gram[e2g], delta)
        unit = gd / (gd.norm(dim=1, keepdim=True) + 1e-12)
        lat_e = lat_in[e2g]
        for layer in self.layers:
            h = layer(h, unit, lat_e, phi, onehot_g, src, dst, e2g, inv_deg)
        h = self.final_layer_norm(h)
        s = torch.zeros(t.shape[0], h.shape[1]).index_add_(0, n2g, h)
        pooled = torch.cat([s / counts[:, None], s], dim=1)
        return self.coord_out(h), self.lattice_out(pooled)


def main():
    sizes = [int(x) for x in open(sys.argv[1]).read().split()]
    hidden, layers, n_freq, time_dim, threads, steps = (int(x) for x in sys.argv[2:8])
    torch.set_num_threads(threads)
    torch.manual_seed(0)
    b = len(sizes)
    n = sum(sizes)
    n2g = torch.repeat_interleave(torch.arange(b), torch.tensor(sizes))
    src, dst, e2g, first = [], [], [], 0
    for g, na in enumerate(sizes):
        for i in range(na):
            for j in range(na):
                if i != j:
                    src.append(first + i)
                    dst.append(first + j)
                    e2g.append(g)
        first += na
    src, dst, e2g = torch.tensor(src), torch.tensor(dst), torch.tensor(e2g)
    deg = torch.zeros(n).index_add_(0, src, torch.ones(len(src)))
    inv_deg = (1.0 / deg.clamp(min=1))[:, None]
    counts = torch.tensor(sizes, dtype=torch.float32)
    onehot_g = nn.functional.one_hot(torch.tensor(sizes), 100).float()
    types = nn.functional.one_hot(torch.randint(0, 94, (n,)), 100).float()
    net = CSPNet(hidden, layers, n_freq, time_dim)
    ema = [p.detach().clone() for p in net.parameters()]
    opt = torch.optim.AdamW(net.parameters(), lr=3e-4, weight_decay=0.0)

    def step():
        t = torch.rand(b)
        frac = torch.rand(n, 3)
        lat_in = torch.randn(b, 6)
        lattice = torch.randn(b, 3, 3) + 5 * torch.eye(3)
        uf, ul = torch.randn(n, 3), torch.randn(b, 6)
        coord, lat = net(t, types, frac, lat_in, lattice, n2g, src, dst, e2g, onehot_g, inv_deg, counts)
        loss = ((coord - uf) ** 2).mean() + ((lat - ul) ** 2).mean()
        opt.zero_grad()
        loss.backward()
        nn.utils.clip_grad_value_(net.parameters(), 0.5)
        opt.step()
        with torch.no_grad():
            for e, p in zip(ema, net.parameters()):
                e.mul_(0.999).add_(p, alpha=0.001)

    for _ in range(3):
        step()
    times = []
    for _ in range(steps):
        t0 = time.perf_counter()
        step()
        times.append(time.perf_counter() - t0)
    times.sort()
    print("torch %s threads %d ms_per_step %.3f" % (torch.__version__, threads, 1e3 * times[len(times) // 2]))


if __name__ == "__main__":
    main()
