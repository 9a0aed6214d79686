package dev.lancet.engine.prune;

/**
 * The removals one shot may make in one part of the model (a linear layer, or a decoder block for coupled groups),
 * priced so that one threshold τ compares them across the whole model. Opening a unit computes its costs and keeps
 * only them; {@link #apply} recomputes what the corrections need, so a worker holds at most one layer's factors and
 * inverses at a time.
 */
public interface PruneUnit extends AutoCloseable, RemovalCount {

    /** Weights (and biases) removed in total after a removal at threshold τ, earlier shots' zeros included. */
    @Override
    long count(double tau);

    /** Removes every structure with cost ≤ τ and corrects the weights that stay; returns what it did. */
    UnitReport apply(double tau);

    @Override
    void close();
}
