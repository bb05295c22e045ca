"""Opt-in speed-ups, each tested equal to the plain version it replaces.

``backward``: Hydra attention with a hand-derived backward pass (less memory); ``fused``: Hydra
attention compiled by ``torch.compile``; ``compiled``: a function compiled ahead of time for
inference (AOTInductor), and the compiled streaming step; ``chunked_loss``: the full
cross-entropy without the (positions x items) score matrix.
"""
