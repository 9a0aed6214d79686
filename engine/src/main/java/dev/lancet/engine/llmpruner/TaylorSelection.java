package dev.lancet.engine.llmpruner;

import dev.lancet.engine.model.BlockLayout;
import dev.lancet.engine.model.HiddenChannelEdit;
import dev.lancet.engine.model.ModelConfig;
import dev.lancet.engine.model.LinearLayout;
import dev.lancet.engine.model.ModelLayout;
import dev.lancet.engine.model.TensorNames.LinearRole;
import dev.lancet.engine.model.Transformer;
import dev.lancet.engine.prune.BlockGroups;
import dev.lancet.engine.prune.BlockGroups.Kind;
import dev.lancet.engine.prune.UnitReport;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Comparator;
import java.util.List;
import java.util.Locale;
import java.util.TreeSet;
import java.util.stream.IntStream;

/**
 * Which groups LLM-Pruner removes: in every block of the layer range the same share, the lowest-scoring groups of
 * each kind ({@link GroupScores}). The share is solved from the number of parameters to remove: the ratio r of the
 * range's head and MLP-channel parameters, each block losing ⌊r · KV heads⌋ heads (a key/value head with its query
 * heads; the reference's floor), and the MLP channels, at one common channel ratio, making up the rest as closely as
 * whole channels allow. A block is never left without heads or channels: a target that would is refused. With
 * {@link Strategy#QUERY_HEADS} a GQA block loses ⌊r · group⌋ query heads from every key/value group instead (the
 * lowest-scoring of each group, {@link GroupScores#queryHeads}), its key/value heads all kept.
 */
public final class TaylorSelection {

    /** Floors of ratios that are whole numbers up to rounding stay whole. */
    private static final double EPS = 1e-9;

    private TaylorSelection() {
    }

    /**
     * Per block, the key/value heads and MLP channels to remove (indices into {@code model}) so that about
     * {@code parameters} of its parameters go; blocks outside the range get empty reports.
     */
    public static List<UnitReport> select(Transformer model, long parameters, TaylorSettings settings,
                                          TaylorGradients gradients) {
        int[][] counts = counts(model.layout(), parameters, settings.range(model.layout().numBlocks()),
                settings.strategy());
        List<UnitReport> reports = new ArrayList<>();
        for (int b = 0; b < model.layout().numBlocks(); b++) {
            List<Integer> channels = lowest(model, b, Kind.MLP_CHANNEL, counts[1][b], settings, gradients);
            if (settings.strategy() == Strategy.QUERY_HEADS) {
                List<Integer> queries = lowestPerGroup(model, b, counts[0][b], settings, gradients);
                reports.add(new UnitReport(b, List.of(), queries, List.of(), channels));
            } else {
                List<Integer> heads = lowest(model, b, Kind.ATTENTION_HEAD, counts[0][b], settings, gradients);
                reports.add(new UnitReport(b, List.of(), List.of(), heads, channels));
            }
        }
        return reports;
    }

    /** The {@code count} query heads of a GQA block to remove, the same number from every key/value group. */
    private static List<Integer> lowestPerGroup(Transformer model, int block, int count, TaylorSettings settings,
                                                TaylorGradients gradients) {
        if (count == 0) {
            return List.of();
        }
        BlockLayout shape = model.layout().block(block);
        double[] scores = GroupScores.queryHeads(model, block, settings, gradients);
        int group = shape.group();
        List<Integer> chosen = new ArrayList<>();
        for (int k = 0; k < shape.kvHeads(); k++) {
            double[] own = Arrays.copyOfRange(scores, k * group, (k + 1) * group);
            int first = k * group;
            lowest(own, count / shape.kvHeads()).forEach(h -> chosen.add(first + h));
        }
        return chosen;
    }

    private static List<Integer> lowest(Transformer model, int block, Kind kind, int count, TaylorSettings settings,
                                        TaylorGradients gradients) {
        return count == 0 ? List.of() : lowest(GroupScores.of(model, block, kind, settings, gradients), count);
    }

    /**
     * The hidden features to remove (indices into {@code model}, ascending) so that about {@code parameters} of its
     * parameters go: the lowest-scoring ones of the whole model ({@link GroupScores#hidden}).
     */
    public static List<Integer> hidden(Transformer model, long parameters, TaylorSettings settings,
                                       TaylorGradients gradients) {
        int count = hiddenCount(model.config(), model.layout(), parameters);
        return count == 0 ? List.of() : lowest(GroupScores.hidden(model, settings, gradients), count);
    }

    /**
     * Hidden features whose parameters come closest to {@code parameters} (the fewer on a tie); a target that would
     * take every feature is refused, as is a model whose stream is not hidden_size wide throughout.
     */
    public static int hiddenCount(ModelConfig config, ModelLayout layout, long parameters) {
        HiddenChannelEdit.requireSupported(config, layout);
        long each = HiddenChannelEdit.parametersPerFeature(config, layout);
        long count = parameters / each;
        if (parameters - count * each > (count + 1) * each - parameters) {
            count++;
        }
        if (count >= config.hiddenSize()) {
            throw new IllegalArgumentException(String.format(Locale.ROOT, "the target would remove every hidden "
                    + "channel (%,d parameters; each of the %d channels holds %,d); lower --target", parameters,
                    config.hiddenSize(), each));
        }
        return (int) count;
    }

    /** The {@code count} lowest of {@code scores} (ties: the lower index), ascending. */
    private static List<Integer> lowest(double[] scores, int count) {
        return IntStream.range(0, scores.length).boxed()
                .sorted(Comparator.<Integer>comparingDouble(g -> scores[g]).thenComparingInt(g -> g))
                .limit(count).sorted().toList();
    }

    /**
     * Refuses, before any work, a target that would leave a block of the range without heads or MLP channels (or
     * the model without hidden channels), or query heads asked of a block without GQA.
     */
    public static void check(ModelConfig config, ModelLayout layout, long parameters, TaylorSettings settings) {
        if (settings.strategy() == Strategy.CHANNELS) {
            hiddenCount(config, layout, parameters);
        } else {
            counts(layout, parameters, settings.range(layout.numBlocks()), settings.strategy());
        }
    }

    /**
     * Heads ([0][block]: key/value heads, or query heads for {@link Strategy#QUERY_HEADS}, the same number from every
     * key/value group) and MLP channels ([1][block]) each block of {@code range} loses so that about
     * {@code parameters} go.
     */
    static int[][] counts(ModelLayout layout, long parameters, LayerRange range, Strategy strategy) {
        int n = layout.numBlocks();
        int[] heads = new int[n];
        int[] channels = new int[n];
        long groupParameters = 0;
        for (int b = range.from(); b < range.to(); b++) {
            groupParameters += total(layout.block(b), Kind.ATTENTION_HEAD)
                    + total(layout.block(b), Kind.MLP_CHANNEL);
        }
        double ratio = (double) parameters / groupParameters;
        long left = parameters;
        for (int b = range.from(); b < range.to(); b++) {
            BlockLayout block = layout.block(b);
            if (strategy == Strategy.QUERY_HEADS) {
                if (block.group() == 1) {
                    throw new IllegalArgumentException("--strategy query-heads needs GQA blocks (query heads sharing "
                            + "a key/value head), but block " + b + " has multi-head attention: use --strategy blocks");
                }
                int perGroup = (int) Math.floor(ratio * block.group() + EPS);
                if (perGroup >= block.group()) {
                    throw new IllegalArgumentException(refusal("head", b, parameters, groupParameters, range));
                }
                heads[b] = perGroup * block.kvHeads();
                LinearLayout q = block.linear(LinearRole.Q);
                left -= (long) heads[b] * block.headDim() * (q.inputsWithBias() + block.linear(LinearRole.O).out());
                continue;
            }
            heads[b] = (int) Math.floor(ratio * block.kvHeads() + EPS);
            if (heads[b] >= block.kvHeads()) {
                throw new IllegalArgumentException(refusal("head", b, parameters, groupParameters, range));
            }
            left -= heads[b] * new BlockGroups(block).parameters(Kind.ATTENTION_HEAD, 0);
        }
        double channelRatio = channelRatio(layout, range, left);
        for (int b = range.from(); b < range.to(); b++) {
            channels[b] = (int) Math.floor(channelRatio * layout.block(b).intermediate() + EPS);
            if (channels[b] >= layout.block(b).intermediate()) {
                throw new IllegalArgumentException(refusal("MLP channel", b, parameters, groupParameters, range));
            }
        }
        return new int[][] {heads, channels};
    }

    private static String refusal(String what, int block, long parameters, long groupParameters, LayerRange range) {
        return String.format(Locale.ROOT, "the target would remove every %s of block %d (%,d parameters "
                + "from the %,d of the heads and MLP channels of blocks %s); lower --target or widen --layers",
                what, block, parameters, groupParameters, range);
    }

    /** Parameters of all groups of a kind in a block. */
    private static long total(BlockLayout block, Kind kind) {
        BlockGroups groups = new BlockGroups(block);
        return groups.count(kind) * groups.parameters(kind, 0);
    }

    /**
     * The channel ratio ρ, among the ratios k / MLP width where some block's count ⌊ρ · width⌋ steps, whose
     * channels remove closest to {@code parameters} (the fewer on a tie).
     */
    private static double channelRatio(ModelLayout layout, LayerRange range, long parameters) {
        TreeSet<Double> steps = new TreeSet<>();
        for (int b = range.from(); b < range.to(); b++) {
            int width = layout.block(b).intermediate();
            for (int k = 0; k <= width; k++) {
                steps.add((double) k / width);
            }
        }
        double[] ratios = steps.stream().mapToDouble(Double::doubleValue).toArray();
        int lo = 0;
        int hi = ratios.length - 1;
        while (lo < hi) {
            int mid = (lo + hi) >>> 1;
            if (removed(layout, range, ratios[mid]) >= parameters) {
                hi = mid;
            } else {
                lo = mid + 1;
            }
        }
        if (lo > 0 && parameters - removed(layout, range, ratios[lo - 1]) <= removed(layout, range, ratios[lo]) - parameters) {
            lo--;
        }
        return ratios[lo];
    }

    private static long removed(ModelLayout layout, LayerRange range, double channelRatio) {
        long total = 0;
        for (int b = range.from(); b < range.to(); b++) {
            BlockLayout block = layout.block(b);
            total += (long) Math.floor(channelRatio * block.intermediate() + EPS)
                    * new BlockGroups(block).parameters(Kind.MLP_CHANNEL, 0);
        }
        return total;
    }
}
