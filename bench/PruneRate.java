// Seconds of the LLM Surgeon engine math on one random layer with random positive definite KFAC means.
//   OMP_WAIT_POLICY=PASSIVE java -Xss16m -cp "engine/target/classes:$(cat actors/target/classpath.txt)" \
//       bench/PruneRate.java [out] [in] [max-correlate]
// Prints one JSON line: the layer shape, the seconds of each step (inverses, costs, corrections) and the
// fewest and most weights the 50% threshold takes from one row (the element update's Cholesky sizes).
import dev.lancet.engine.curvature.KfacFactor;
import dev.lancet.engine.nn.Linear;
import dev.lancet.engine.prune.Damping;
import dev.lancet.engine.prune.ElementCorrection;
import dev.lancet.engine.prune.ElementMask;
import dev.lancet.engine.prune.LayerCosts;
import dev.lancet.engine.prune.LayerCurvature;
import dev.lancet.engine.prune.PruneMethod;
import dev.lancet.engine.prune.SortedCosts;
import dev.lancet.engine.prune.StructureCorrection;
import dev.lancet.engine.prune.ThresholdSearch;
import dev.lancet.engine.prune.TwoFourBlocks;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.function.Supplier;
import java.util.stream.IntStream;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;

public class PruneRate {

    private static final Map<String, Double> SECONDS = new LinkedHashMap<>();

    public static void main(String[] args) {
        int out = args.length > 0 ? Integer.parseInt(args[0]) : 768;
        int in = args.length > 1 ? Integer.parseInt(args[1]) : 3072;
        int maxCorrelate = args.length > 2 ? Integer.parseInt(args[2]) : ElementCorrection.DEFAULT_MAX_CORRELATE;
        Nd4j.getRandom().setSeed(1);
        INDArray weight = Nd4j.randn(DataType.FLOAT, out, in);
        try (KfacFactor factor = KfacFactor.fromMeans("layer", false, moment(in), moment(out), 1000)) {
            Linear layer = new Linear("layer", weight, null, true);
            try (LayerCurvature c = time("inverses", () -> LayerCurvature.of(PruneMethod.SURGEON, factor, layer,
                    Damping.ELEMENTS))) {
                INDArray costs = time("element_costs", () -> LayerCosts.elements(c, layer));
                time("row_costs", () -> LayerCosts.rows(c, layer));
                time("column_costs", () -> LayerCosts.columns(c, layer));
                SortedCosts sorted = time("sort_element_costs", () -> SortedCosts.of(costs));
                double tau = time("bisection_50pct", () -> ThresholdSearch.largest(sorted, (long) out * in / 2));
                TwoFourBlocks blocks = time("two_four_blocks", () -> TwoFourBlocks.of(c, costs));
                ElementMask half = ElementMask.atMost(costs, tau);
                IntStream.Builder perRow = IntStream.builder();
                IntStream.range(0, out).forEach(i -> perRow.add(half.countIn(i)));
                int[] removedPerRow = perRow.build().toArray();
                SECONDS.put("removed_per_row_max", (double) IntStream.of(removedPerRow).max().orElse(0));
                SECONDS.put("removed_per_row_min", (double) IntStream.of(removedPerRow).min().orElse(0));
                Linear copy = new Linear("layer", weight.dup(), null, true);
                time("unstructured_50pct_update", () -> {
                    ElementCorrection.apply(c, copy, half, maxCorrelate);
                    return null;
                });
                Linear twoFour = new Linear("layer", weight.dup(), null, true);
                time("two_four_update", () -> {
                    ElementCorrection.apply(c, twoFour, blocks.mask(Double.POSITIVE_INFINITY), maxCorrelate);
                    return null;
                });
                Linear rows = new Linear("layer", weight.dup(), null, true);
                time("rows_25pct_update", () -> {
                    StructureCorrection.rows(c, rows, IntStream.range(0, out / 4).map(i -> 4 * i).toArray());
                    return null;
                });
                Linear columns = new Linear("layer", weight.dup(), null, true);
                time("columns_25pct_update", () -> {
                    StructureCorrection.columns(c, columns, IntStream.range(0, in / 4).map(j -> 4 * j).toArray());
                    return null;
                });
            }
        }
        StringBuilder json = new StringBuilder("{\"out\":" + out + ",\"in\":" + in + ",\"max_correlate\":"
                + maxCorrelate);
        SECONDS.forEach((k, v) -> json.append(k.startsWith("removed") ? String.format(",\"%s\":%.0f", k, v)
                : String.format(",\"%s_s\":%.3f", k, v)));
        System.out.println(json.append('}'));
    }

    /** E[x xᵀ] of 2n correlated samples: positive definite, with a spread of scales. */
    private static INDArray moment(int n) {
        INDArray x = Nd4j.randn(DataType.DOUBLE, 2L * n, n).muliRowVector(Nd4j.linspace(DataType.DOUBLE, 0.1, 2, n));
        return x.transpose().mmul(x).divi(2L * n);
    }

    private static <T> T time(String step, Supplier<T> work) {
        long start = System.nanoTime();
        T result = work.get();
        SECONDS.put(step, (System.nanoTime() - start) / 1e9);
        return result;
    }
}
