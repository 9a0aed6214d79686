package dev.lancet.engine.llmpruner;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.lancet.engine.Fixtures;
import dev.lancet.engine.io.DType;
import dev.lancet.engine.model.Checkpoint;
import dev.lancet.engine.model.HiddenChannelEdit;
import dev.lancet.engine.model.StructuralEdit;
import dev.lancet.engine.model.SyntheticCheckpoint;
import dev.lancet.engine.model.TokenBatch;
import dev.lancet.engine.model.Transformer;
import dev.lancet.engine.nn.Attention;
import dev.lancet.engine.nn.Linear;
import dev.lancet.engine.prune.BlockGroups;
import dev.lancet.engine.prune.BlockGroups.Kind;
import dev.lancet.engine.prune.BlockGroups.Member;
import dev.lancet.engine.prune.UnitReport;
import dev.lancet.engine.text.CalibrationSource;
import dev.lancet.engine.text.Tokenizer;
import java.nio.file.Path;
import java.util.List;
import java.util.SplittableRandom;
import java.util.stream.IntStream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.indexing.NDArrayIndex;

/**
 * Group scores against central finite differences of the fp64 mean next-token loss, computed here entry by entry
 * (Element¹: Σ|w·∂L/∂w|; Element²: the Fisher term from each window's own loss) and member by member (Vector: the
 * derivative of the loss along the member's own weights, d/dt L((1 + t)·W_m) = Σ w·∂L/∂w). On a GQA Llama with
 * biases (4 query heads in 2 groups of 2) and a multi-head OPT with biases, one head group and one MLP channel each.
 */
class TaylorScoresTest {

    @TempDir
    Path tmp;

    private static final int WINDOWS = 2;
    private static final int SEQ = 8;

    @Test
    void gqaLlamaScoresEqualFiniteDifferences() {
        check(new SyntheticCheckpoint.Spec("llama", 4096, 8, 8, 2, 4, 2, 6, 32, true, false, false, DType.F32, 0.3, 7));
    }

    @Test
    void optScoresEqualFiniteDifferences() {
        check(new SyntheticCheckpoint.Spec("opt", 4096, 8, 8, 2, 2, 2, 6, 32, true, true, false, DType.F32, 0.3, 8));
    }

    /**
     * A hidden feature's group runs through every tensor of the model: the embedding column (and positions), each
     * norm's entries, every reader's column and writer's row with its bias entry, and the head's column. On the
     * untied GQA Llama and the tied OPT with learned positions, one feature, module by module: each module's three
     * scores against finite differences over all its entries, except the vocabulary-wide tables (embedding, head),
     * whose 4,096 entries would take minutes: there g and F are checked entry by entry on the rows of the windows'
     * tokens and on random other rows, and the module's scores must be positive.
     */
    @Test
    void hiddenChannelScoresEqualFiniteDifferences() {
        for (SyntheticCheckpoint.Spec spec : List.of(
                new SyntheticCheckpoint.Spec("llama", 4096, 4, 4, 1, 2, 1, 3, 16, true, false, false, DType.F32, 0.3,
                        9),
                new SyntheticCheckpoint.Spec("opt", 4096, 4, 4, 1, 2, 2, 3, 16, true, true, false, DType.F32, 0.3,
                        10))) {
            Path dir = tmp.resolve(spec.arch() + "-hidden");
            SyntheticCheckpoint.write(spec, dir);
            try (Checkpoint checkpoint = Checkpoint.open(dir);
                 Tokenizer tokenizer = Tokenizer.load(Fixtures.tinyLlama().resolve("tokenizer.json"));
                 Transformer model = Transformer.load(checkpoint, DataType.DOUBLE)) {
                CalibrationSource source = CalibrationSource.of(tokenizer, List.of(Fixtures.calibrationText()),
                        WINDOWS, SEQ, CalibrationSource.Sampling.RANDOM, 4);
                TokenBatch all = source.batch(0, WINDOWS);
                int d = 1;
                try (TaylorGradients gradients = TaylorGradients.of(model, source, true, 2, done -> { })) {
                    List<List<HiddenChannelEdit.Part>> modules = HiddenChannelEdit.members(model);
                    List<double[]> element1 = GroupScores.hiddenMembers(model, Importance.ELEMENT1, gradients);
                    List<double[]> element2 = GroupScores.hiddenMembers(model, Importance.ELEMENT2, gradients);
                    List<double[]> vector = GroupScores.hiddenMembers(model, Importance.VECTOR, gradients);
                    for (int m = 0; m < modules.size(); m++) {
                        List<HiddenChannelEdit.Part> module = modules.get(m);
                        String what = spec.arch() + " " + module.get(0).tensor();
                        if (module.get(0).value().size(0) == spec.vocab()) {
                            checkTableGradients(model, source, all, module.get(0), d, gradients, what);
                            assertTrue(element1.get(m)[d] > 0 && vector.get(m)[d] > 0, what);
                            continue;
                        }
                        double[] fd = finiteDifferenceModule(model, source, all, module, d);
                        assertClose(fd[0], element1.get(m)[d], what + " element1");
                        assertClose(fd[1], element2.get(m)[d], what + " element2");
                        assertClose(fd[2], vector.get(m)[d], what + " vector");
                    }
                    double sum = element1.stream().mapToDouble(scores -> scores[d]).sum();
                    assertClose(sum, GroupScores.hidden(model, new TaylorSettings(Strategy.CHANNELS,
                            Importance.ELEMENT1, Aggregation.SUM, null, 0), gradients)[d], spec.arch() + " sum");
                }
            }
        }
    }

    /** Element¹, Element² and Vector scores of one module along hidden feature d from finite differences alone. */
    private static double[] finiteDifferenceModule(Transformer model, CalibrationSource source, TokenBatch all,
                                                   List<HiddenChannelEdit.Part> module, int d) {
        double element1 = 0;
        double element2 = 0;
        double along = 0;
        for (HiddenChannelEdit.Part part : module) {
            INDArray entries = feature(part, d);
            for (long k = 0; k < entries.length(); k++) {
                double[] e = entry(model, source, all, entries, k);
                element1 += e[0];
                element2 += e[1];
                along += e[2];
            }
        }
        return new double[] {element1, element2, Math.abs(along)};
    }

    /** Row d, column d or entry d of a part, a view into the model's weights. */
    private static INDArray feature(HiddenChannelEdit.Part part, int d) {
        INDArray w = part.value();
        return w.rank() == 1 ? w.get(NDArrayIndex.interval(d, d + 1)) : part.rows() ? w.getRow(d) : w.getColumn(d);
    }

    /** g and F of a table's column d against finite differences, on the windows' tokens' rows and 24 random rows. */
    private static void checkTableGradients(Transformer model, CalibrationSource source, TokenBatch all,
                                            HiddenChannelEdit.Part table, int d, TaylorGradients gradients,
                                            String what) {
        INDArray column = feature(table, d);
        INDArray g = gradients.gradient(table.tensor()).getColumn(d);
        INDArray f = gradients.fisher(table.tensor()).getColumn(d);
        SplittableRandom random = new SplittableRandom(5);
        IntStream rows = IntStream.concat(IntStream.of(all.ids()), random.ints(24, 0, (int) column.length()));
        rows.distinct().forEach(v -> {
            double want = derivative(model, all, column, v);
            double fisher = 0;
            for (int n = 0; n < WINDOWS; n++) {
                double own = derivative(model, source.batch(n, 1), column, v);
                fisher += own * own / WINDOWS;
            }
            assertEquals(want, g.getDouble(v), 1e-9 + 1e-6 * Math.abs(want), what + " g[" + v + "]");
            assertEquals(fisher, f.getDouble(v), 1e-12 + 1e-6 * fisher, what + " F[" + v + "]");
        });
    }

    private void check(SyntheticCheckpoint.Spec spec) {
        Path dir = tmp.resolve(spec.arch());
        SyntheticCheckpoint.write(spec, dir);
        try (Checkpoint checkpoint = Checkpoint.open(dir);
             Tokenizer tokenizer = Tokenizer.load(Fixtures.tinyLlama().resolve("tokenizer.json"));
             Transformer model = Transformer.load(checkpoint, DataType.DOUBLE)) {
            CalibrationSource source = CalibrationSource.of(tokenizer, List.of(Fixtures.calibrationText()), WINDOWS,
                    SEQ, CalibrationSource.Sampling.RANDOM, 3);
            try (TaylorGradients gradients = TaylorGradients.of(model, source, true, 2, done -> { })) {
                for (Kind kind : Kind.values()) {
                    int block = 1;
                    // the group with the largest score: a channel a ReLU never opens would check nothing
                    double[] element1 = GroupScores.of(model, block, kind,
                            settings(Importance.ELEMENT1), gradients);
                    int group = IntStream.range(0, element1.length).reduce((a, b) -> element1[b] > element1[a] ? b : a)
                            .orElseThrow();
                    double[] fd = finiteDifferenceScores(model, source, block, kind, group);
                    assertClose(fd[0], score(model, block, kind, group, Importance.ELEMENT1, gradients), kind + " element1");
                    assertClose(fd[1], score(model, block, kind, group, Importance.ELEMENT2, gradients), kind + " element2");
                    assertClose(fd[2], score(model, block, kind, group, Importance.VECTOR, gradients), kind + " vector");
                    assertTrue(fd[0] > fd[2], "vector-wise cancels signs, element-wise does not");
                    assertTrue(Math.abs(fd[0] - fd[1]) > 1e-4 * fd[0], "the Fisher term counts");
                }
                if (spec.heads() > spec.kvHeads()) {
                    checkQueryHead(model, source, gradients);
                }
            }
        }
    }

    /** A single query head of a GQA block: its q rows with their bias entries, and its o columns. */
    private static void checkQueryHead(Transformer model, CalibrationSource source, TaylorGradients gradients) {
        int block = 1;
        int head = 3;
        int d = model.layout().block(block).headDim();
        Attention attention = model.blocks().get(block).attention();
        TokenBatch all = source.batch(0, WINDOWS);
        double[] fd = new double[3];
        for (boolean query : new boolean[] {true, false}) {
            Linear layer = query ? attention.q() : attention.o();
            double along = 0;
            for (int line = head * d; line < (head + 1) * d; line++) {
                List<INDArray> parts = query && layer.bias() != null
                        ? List.of(layer.weight().getRow(line), layer.bias().get(NDArrayIndex.interval(line, line + 1)))
                        : List.of(query ? layer.weight().getRow(line) : layer.weight().getColumn(line));
                for (INDArray entries : parts) {
                    for (long k = 0; k < entries.length(); k++) {
                        double[] e = entry(model, source, all, entries, k);
                        fd[0] += e[0];
                        fd[1] += e[1];
                        along += e[2];
                    }
                }
            }
            fd[2] += Math.abs(along);
        }
        Importance[] importances = {Importance.ELEMENT1, Importance.ELEMENT2, Importance.VECTOR};
        for (int i = 0; i < 3; i++) {
            double got = GroupScores.queryHeads(model, block, new TaylorSettings(Strategy.QUERY_HEADS, importances[i],
                    Aggregation.SUM, null, 0), gradients)[head];
            assertClose(fd[i], got, "query head " + importances[i]);
        }
    }

    private static double score(Transformer model, int block, Kind kind, int group, Importance importance,
                                TaylorGradients gradients) {
        return GroupScores.of(model, block, kind, settings(importance), gradients)[group];
    }

    private static TaylorSettings settings(Importance importance) {
        return new TaylorSettings(Strategy.BLOCKS, importance, Aggregation.SUM, null, 0);
    }

    private static void assertClose(double want, double got, String what) {
        assertEquals(want, got, 1e-6 * Math.abs(want), what);
    }

    /** Element¹, Element² and Vector scores of one group (summed over members) from finite differences alone. */
    private static double[] finiteDifferenceScores(Transformer model, CalibrationSource source, int block, Kind kind,
                                                   int group) {
        TokenBatch all = source.batch(0, WINDOWS);
        BlockGroups groups = new BlockGroups(model.layout().block(block));
        double element1 = 0;
        double element2 = 0;
        double vector = 0;
        for (Member m : groups.members(kind, group)) {
            String layer = model.layout().block(block).linear(m.role()).name();
            INDArray w = model.parameters().get(layer + ".weight");
            INDArray b = model.parameters().get(layer + ".bias");
            double along = 0;
            for (int line : m.indices()) {
                INDArray entries = m.rows() ? w.getRow(line) : w.getColumn(line);
                for (long k = 0; k < entries.length(); k++) {
                    double[] e = entry(model, source, all, entries, k);
                    element1 += e[0];
                    element2 += e[1];
                    along += e[2];
                }
                if (m.rows() && b != null) {
                    double[] e = entry(model, source, all, b, line);
                    element1 += e[0];
                    element2 += e[1];
                    along += e[2];
                }
            }
            vector += Math.abs(along);
        }
        return new double[] {element1, element2, vector};
    }

    /** |w·g|, |w·g − ½w²F| and w·g of one entry (a view into the model's weights), g and F by finite differences. */
    private static double[] entry(Transformer model, CalibrationSource source, TokenBatch all, INDArray entries,
                                  long k) {
        double w = entries.getDouble(k);
        double g = derivative(model, all, entries, k);
        double fisher = 0;
        for (int n = 0; n < WINDOWS; n++) {
            double own = derivative(model, source.batch(n, 1), entries, k);
            fisher += own * own / WINDOWS;
        }
        return new double[] {Math.abs(w * g), Math.abs(w * g - 0.5 * w * w * fisher), w * g};
    }

    /** ∂(mean NLL)/∂entry by central differences. */
    private static double derivative(Transformer model, TokenBatch windows, INDArray entries, long k) {
        double eps = 1e-5;
        double original = entries.getDouble(k);
        entries.putScalar(k, original + eps);
        double up = model.loss(windows).nllSum();
        entries.putScalar(k, original - eps);
        double down = model.loss(windows).nllSum();
        entries.putScalar(k, original);
        return (up - down) / (2 * eps) / windows.labelledTokens();
    }

    /** The edit removing the KV heads and MLP channels LLM-Pruner chose. */
    static StructuralEdit edit(List<UnitReport> chosen) {
        StructuralEdit edit = new StructuralEdit();
        chosen.forEach(r -> edit.dropKvHeads(r.block(), r.kvHeads()).dropChannels(r.block(), r.channels()));
        return edit;
    }
}
