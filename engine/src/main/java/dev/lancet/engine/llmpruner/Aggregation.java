package dev.lancet.engine.llmpruner;

import java.util.stream.DoubleStream;

/**
 * How a group's score comes from its members' scores, members in the block's layer order (q, k, v, o; gate, up,
 * down or fc1, fc2): the paper's summation (its choice), production, max, and last-only (the member in the last
 * layer, o or down).
 */
public enum Aggregation {
    SUM, PRODUCT, MAX, LAST;

    /**
     * The group score of {@code members}; production as a sum of logarithms, which ranks alike without
     * underflowing (a product of a few hundred small scores is below the smallest double).
     */
    public double reduce(double[] members) {
        return switch (this) {
            case SUM -> DoubleStream.of(members).sum();
            case PRODUCT -> DoubleStream.of(members).map(Math::log).sum();
            case MAX -> DoubleStream.of(members).max().orElseThrow();
            case LAST -> members[members.length - 1];
        };
    }
}
