package dev.lancet.engine.prune;

/**
 * The removals one shot may make in one part of the model (a linear layer, or a decoder block for coupled groups),
 * priced in loss units so that one threshold τ compares them across the whole model. Opening a unit computes its
 * costs and keeps only them; {@link #apply} recomputes what the corrections need, so a worker holds at most one
 * layer's factors and inverses at a time.
 */
public interface PruneUnit extends AutoCloseable {

    /** The highest cost of a candidate structure (0 when there is none): thresholds above it remove everything. */
    double maxCost();

    /** Weights (and biases) this unit has removed in total after a removal at threshold τ, those removed by earlier shots included. */
    long count(double tau);

    /** Removes every structure with cost ≤ τ and corrects the weights that stay; returns what it did. */
    UnitReport apply(double tau);

    @Override
    void close();
}
