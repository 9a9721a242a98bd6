{
  description = "The smallest flake: evaluating it needs flakes on and git to accept the checkout.";
  outputs = _: { message = "flake evaluated"; };
}
