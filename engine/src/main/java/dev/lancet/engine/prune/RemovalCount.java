package dev.lancet.engine.prune;

/**
 * Weights a layer (or a block, or the whole model) would remove at a cost threshold τ: everything whose cost is at
 * most τ. Non-decreasing in τ, which is all {@link ThresholdSearch} needs.
 */
@FunctionalInterface
public interface RemovalCount {

    long count(double threshold);
}
