"""The GRAM search loop: sample -> proxy-train -> reward -> update, checkpointed every iteration."""
