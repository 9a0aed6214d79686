package dev.lancet.engine.prune;

import dev.lancet.engine.curvature.KfacState;
import dev.lancet.engine.model.BlockLayout;
import dev.lancet.engine.model.LinearLayout;
import dev.lancet.engine.model.TensorNames.LinearRole;
import dev.lancet.engine.nn.Linear;
import dev.lancet.engine.prune.BlockGroups.Kind;
import java.util.List;
import java.util.stream.IntStream;

/**
 * One decoder block priced by its coupled groups: attention heads (on GQA a key/value head with its query heads),
 * query-head units on GQA (query head j of every key/value group) and MLP channels. A group's producers (its q, k, v
 * rows; its fc1 or gate and up rows) feed nothing but its consumer columns (o; fc2 or down), so once those are gone
 * the producers' outputs no longer reach the loss: a group costs its consumer columns' joint OBS cost, and only the
 * consumer layer is corrected (the other columns compensate, through the layer's input covariance); correcting the
 * producer layers as if their outputs still mattered would distort the rows that stay.
 * A group is priced per parameter it removes: a head and an MLP channel remove different numbers of weights, and the
 * threshold then takes the cheapest loss per weight first (on tiny-llama at 25%, ×1.0158 the dense perplexity against
 * ×1.0171 with raw costs; BENCHMARKS.md).
 *
 * <p>On GQA both attention units compete under the one threshold, each at its own cost per weight: a whole key/value
 * group (a quarter of the attention of a 12/4 model) and the finer query-head units, which keep every key/value
 * head. Taking both, a query-head unit removes its heads only from the groups that stay, which is what
 * {@link #count} counts. Once a block's groups have one query head each it is multi-head shaped and only key/value
 * groups remain. (On a GQA stand-in of tiny-llama the units let a run reach its target, but the o layer's cost
 * underprices them against MLP channels: BENCHMARKS.md.)
 * The most expensive head, query-head unit and channel are never candidates, so a block always keeps a key/value head,
 * a query head per group and a channel: removing a whole block is a depth edit, not this. Applying corrects each
 * consumer layer for the removed set; the caller then removes the groups physically, so later shots see a smaller
 * model.
 */
final class GroupUnit implements PruneUnit {

    private final int block;
    private final BlockGroups groups;
    private final List<Linear> layers;
    private final List<LinearLayout> described;
    private final KfacState curvature;
    private final PruneSettings settings;
    /** Per kind, each group's cost per parameter it removes. */
    private final double[][] costs = new double[Kind.values().length][];
    /** Each query-head unit's cost per parameter it removes; empty unless GQA. */
    private final double[] queryCosts;
    private final SortedCosts channelCount;
    private final SortedCosts headCount;
    private final SortedCosts queryCount;

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
        double[] query = new double[0];
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
                if (role == LinearRole.O && groups.queryHeadUnits() > 0) {
                    query = groups.queryHeadCosts(c, layers.get(i));
                }
            }
        }
        for (Kind kind : Kind.values()) {
            double[] c = costs[kind.ordinal()];
            for (int g = 0; g < c.length; g++) {
                c[g] /= groups.parameters(kind, g);
            }
        }
        for (int j = 0; j < query.length; j++) {
            query[j] /= groups.queryHeadParameters();
        }
        this.queryCosts = query;
        this.channelCount = candidates(Kind.MLP_CHANNEL);
        this.headCount = candidates(Kind.ATTENTION_HEAD);
        // counted in units: what a unit removes depends on the key/value groups taken with it (count)
        this.queryCount = SortedCosts.of(candidateCosts(queryCosts), 1);
    }

    static GroupUnit open(int block, BlockLayout shape, List<Linear> layers, KfacState curvature,
                          PruneSettings settings) {
        return new GroupUnit(block, shape, layers, curvature, settings);
    }

    private SortedCosts candidates(Kind kind) {
        double[] c = costs[kind.ordinal()];
        int kept = mostExpensive(c);
        long[] weights = IntStream.range(0, c.length).filter(g -> g != kept).mapToLong(g -> groups.parameters(kind, g))
                .toArray();
        return SortedCosts.of(candidateCosts(c), weights);
    }

    /** Every cost but the most expensive one's, in index order. */
    private static double[] candidateCosts(double[] c) {
        int kept = mostExpensive(c);
        return IntStream.range(0, c.length).filter(g -> g != kept).mapToDouble(g -> c[g]).toArray();
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

    /** Of {@code c}, the indices under the threshold, never the most expensive one. */
    private static List<Integer> removed(double[] c, double tau) {
        int kept = mostExpensive(c);
        return IntStream.range(0, c.length).filter(g -> g != kept && c[g] <= tau).boxed().toList();
    }

    /**
     * Channels and key/value groups under τ, and the query-head units under τ, each taking one head from every
     * key/value group that stays.
     */
    @Override
    public long count(double tau) {
        long keptGroups = groups.count(Kind.ATTENTION_HEAD) - headCount.structures(tau);
        long perGroup = queryCosts.length == 0 ? 0 : groups.queryHeadParameters() / groups.count(Kind.ATTENTION_HEAD);
        return channelCount.count(tau) + headCount.count(tau) + queryCount.structures(tau) * keptGroups * perGroup;
    }

    @Override
    public UnitReport apply(double tau) {
        List<Integer> kvHeads = removed(costs[Kind.ATTENTION_HEAD.ordinal()], tau);
        List<Integer> channels = removed(costs[Kind.MLP_CHANNEL.ordinal()], tau);
        List<Integer> queryUnits = queryCosts.length == 0 ? List.of() : removed(queryCosts, tau);
        if (settings.method().corrects()) {
            for (int i = 0; i < layers.size(); i++) {
                var role = described.get(i).role();
                if (role == LinearRole.O && !(kvHeads.isEmpty() && queryUnits.isEmpty())) {
                    try (LayerCurvature c = curvature(i)) {
                        StructureCorrection.columns(c, layers.get(i), groups.outputColumns(kvHeads, queryUnits));
                    }
                } else if (role == LinearRole.DOWN && !channels.isEmpty()) {
                    try (LayerCurvature c = curvature(i)) {
                        groups.correct(c, layers.get(i), role, channels);
                    }
                }
            }
        }
        // the query heads that stay after the key/value groups go: those of the removed units in the kept groups
        int group = groups.queryHeadUnits();
        List<Integer> queryHeads = queryUnits.stream().flatMap(j -> groups.queryHeads(j).stream())
                .filter(h -> !kvHeads.contains(h / group)).sorted().toList();
        return new UnitReport(block, List.of(), queryHeads, kvHeads, channels);
    }

    @Override
    public void close() {
    }
}
