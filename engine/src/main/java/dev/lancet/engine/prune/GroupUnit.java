package dev.lancet.engine.prune;

import dev.lancet.engine.curvature.KfacState;
import dev.lancet.engine.model.BlockLayout;
import dev.lancet.engine.model.LinearLayout;
import dev.lancet.engine.model.TensorNames.LinearRole;
import dev.lancet.engine.nn.Linear;
import dev.lancet.engine.prune.BlockGroups.Kind;
import java.util.ArrayList;
import java.util.List;
import java.util.stream.IntStream;

/**
 * One decoder block priced by its coupled groups: attention heads (on GQA a key/value head with its query heads) and
 * MLP channels. A group's producers (its q, k, v rows; its fc1 or gate and up rows) feed nothing but its consumer
 * columns (o; fc2 or down), so once those are gone the producers' outputs no longer reach the loss: a group costs its
 * consumer columns' joint OBS cost, and only the consumer layer is corrected (the other columns compensate, through
 * the layer's input covariance); correcting the producer layers as if their outputs still mattered would distort the
 * rows that stay.
 * A group is priced per parameter it removes: a head and an MLP channel remove different numbers of weights, and the
 * threshold then takes the cheapest loss per weight first (on tiny-llama at 25%, ×1.0158 the dense perplexity against
 * ×1.0171 with raw costs; BENCHMARKS.md).
 * The most expensive head and channel are never candidates, so a block always keeps one of each: removing a whole
 * block is a depth edit, not this. Applying corrects each member layer for the removed set; the caller then removes
 * the groups physically, so later shots see a smaller model.
 */
final class GroupUnit implements PruneUnit {

    private final int block;
    private final BlockGroups groups;
    private final List<Linear> layers;
    private final List<LinearLayout> described;
    private final KfacState curvature;
    private final PruneSettings settings;
    private final double[][] costs = new double[Kind.values().length][];
    private final SortedCosts count;

    private GroupUnit(int block, BlockLayout shape, List<Linear> layers, KfacState curvature, PruneSettings settings) {
        this.block = block;
        this.groups = new BlockGroups(shape);
        this.layers = layers;
        this.described = shape.linears();
        this.curvature = curvature;
        this.settings = settings;
        for (Kind kind : Kind.values()) {
            costs[kind.ordinal()] = new double[groups.count(kind)];
        }
        for (int i = 0; i < layers.size(); i++) {
            var role = described.get(i).role();
            if (!consumer(role)) {
                continue;
            }
            try (LayerCurvature c = curvature(i)) {
                double[] share = groups.costShares(c, layers.get(i), role);
                double[] total = costs[BlockGroups.kindOf(role).ordinal()];
                for (int g = 0; g < total.length; g++) {
                    total[g] += share[g];
                }
            }
        }
        List<Double> candidateCosts = new ArrayList<>();
        List<Long> candidateWeights = new ArrayList<>();
        for (Kind kind : Kind.values()) {
            double[] c = costs[kind.ordinal()];
            for (int g = 0; g < c.length; g++) {
                c[g] /= groups.parameters(kind, g);
            }
            int kept = mostExpensive(c);
            for (int g = 0; g < groups.count(kind); g++) {
                if (g != kept) {
                    candidateCosts.add(c[g]);
                    candidateWeights.add(groups.parameters(kind, g));
                }
            }
        }
        this.count = SortedCosts.of(candidateCosts.stream().mapToDouble(Double::doubleValue).toArray(),
                candidateWeights.stream().mapToLong(Long::longValue).toArray());
    }

    static GroupUnit open(int block, BlockLayout shape, List<Linear> layers, KfacState curvature,
                          PruneSettings settings) {
        return new GroupUnit(block, shape, layers, curvature, settings);
    }

    private LayerCurvature curvature(int layer) {
        Linear linear = layers.get(layer);
        return LayerCurvature.of(settings.method(), curvature == null ? null : curvature.get(linear.name()), linear,
                settings.damping());
    }

    /** The layers whose input columns a group is: o for attention heads, fc2 or down for MLP channels. */
    private static boolean consumer(LinearRole role) {
        return role == LinearRole.O || role == LinearRole.DOWN;
    }

    private static int mostExpensive(double[] costs) {
        int best = 0;
        for (int g = 1; g < costs.length; g++) {
            if (costs[g] > costs[best]) {
                best = g;
            }
        }
        return best;
    }

    /** Groups of a kind under the threshold, never the most expensive one. */
    private List<Integer> removed(Kind kind, double tau) {
        double[] c = costs[kind.ordinal()];
        int kept = mostExpensive(c);
        return IntStream.range(0, c.length).filter(g -> g != kept && c[g] <= tau).boxed().toList();
    }

    @Override
    public long count(double tau) {
        return count.count(tau);
    }

    @Override
    public UnitReport apply(double tau) {
        List<Integer> heads = removed(Kind.ATTENTION_HEAD, tau);
        List<Integer> channels = removed(Kind.MLP_CHANNEL, tau);
        if (settings.method().corrects()) {
            for (int i = 0; i < layers.size(); i++) {
                var role = described.get(i).role();
                if (!consumer(role)) {
                    continue;
                }
                List<Integer> gone = BlockGroups.kindOf(role) == Kind.ATTENTION_HEAD ? heads : channels;
                if (!gone.isEmpty()) {
                    try (LayerCurvature c = curvature(i)) {
                        groups.correct(c, layers.get(i), role, gone);
                    }
                }
            }
        }
        return new UnitReport(block, List.of(), List.of(), heads, channels);
    }

    @Override
    public void close() {
    }
}
