package dev.lancet.engine.prune;

/**
 * A layer whose costs are not comparable with other layers' (SparseGPT's G = I leaves them in units of the layer's
 * own output error) takes the same share of removals as every other: the shot's threshold is read as a fraction
 * τ ∈ [0, 1] of the layer's weights, turned into the layer's own cost threshold.
 */
final class UniformShare implements PruneUnit {

    private final PruneUnit layer;
    private final long weights;

    /** @param weights the layer's weights and biases */
    UniformShare(PruneUnit layer, long weights) {
        this.layer = layer;
        this.weights = weights;
    }

    /** The layer's largest cost threshold that removes at most the fraction {@code share} of its weights. */
    private double threshold(double share) {
        return ThresholdSearch.largest(layer, (long) Math.floor(Math.min(share, 1.0) * weights));
    }

    @Override
    public long count(double share) {
        return layer.count(threshold(share));
    }

    @Override
    public UnitReport apply(double share) {
        return layer.apply(threshold(share));
    }

    @Override
    public void close() {
        layer.close();
    }
}
