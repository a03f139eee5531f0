"""What a client's spec may do: the operator's policy, the calls a run may make, URL specs."""
