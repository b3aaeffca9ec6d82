"""The lecture's XOR network, fitted by plain gradient descent with the engine alone.

2 inputs -> 2 ReLU hidden units -> 1 linear output, mean squared error. Run:
    python examples/xor.py
"""

import chainrule as cr


def main(steps: int = 2000, lr: float = 0.1, seed: int = 1) -> float:
    cr.manual_seed(seed)
    X = cr.tensor([[0, 0], [0, 1], [1, 0], [1, 1]], dtype="float32")
    y = cr.tensor([0, 1, 1, 0], dtype="float32")
    W = (cr.randn(2, 2) * 0.8).requires_grad_()  # the lecture's h = relu(X W + b)
    b = cr.full((2,), 0.1, requires_grad=True)
    v = (cr.randn(2) * 0.8).requires_grad_()  # y_hat = h v + c
    c = cr.zeros(1, requires_grad=True)
    params = [W, b, v, c]
    for step in range(steps + 1):
        h = cr.relu(X @ W + b)
        y_hat = h @ v + c
        loss = ((y_hat - y) ** 2).mean()
        for p in params:
            p.zero_grad()
        loss.backward()
        with cr.no_grad():
            for p in params:
                p.data -= lr * p.grad.data  # theta <- theta - eps * g
        if step % 200 == 0:
            print(f"step {step:5d}   loss {loss.item():.6f}")
    with cr.no_grad():
        out = cr.relu(X @ W + b) @ v + c
    print("XOR outputs:", [round(float(o), 3) for o in out.numpy()])
    return loss.item()


if __name__ == "__main__":
    main()
