"""``python -m engine.kernels``: which op has which kernel on which backend, and whether it runs."""

from engine.kernels import describe, table

print(f"{'op':<22}{'backend':<9}{'kernels':<20}enabled")
for name, backend, pair, on in table():
    print(f"{name:<22}{backend:<9}{pair:<20}{'yes' if on else 'no'}")
print(f"\ncpu: {describe('cpu')}\ncuda: {describe('cuda')}")
