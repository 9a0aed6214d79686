package dev.lancet.engine.model;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.lancet.engine.io.DType;
import dev.lancet.engine.io.SafetensorsWriter;
import dev.lancet.engine.io.SafetensorsWriter.Entry;
import dev.lancet.engine.io.TensorInfo;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;
import java.util.stream.IntStream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.indexing.NDArrayIndex;

/**
 * Removing hidden features against a second construction: a checkpoint written here tensor by tensor with the
 * features' rows, columns and entries deleted by tensor name, and hidden_size lowered in its config.json, gives the
 * edited model's logits (a GQA Llama with biases and its own head; an OPT with biases, learned positions and a tied
 * head). The edited model loses exactly the parameters {@link HiddenChannelEdit#parametersPerFeature} counts, saves
 * as a stock-shaped checkpoint (hidden_size and head_dim in config.json, no per-layer entries) and reloads to the
 * same logits. Features out of range, all of them, and models whose stream is not hidden_size wide are refused.
 */
class HiddenChannelEditTest {

    @TempDir
    Path tmp;

    private static final SyntheticCheckpoint.Spec LLAMA = new SyntheticCheckpoint.Spec("llama", 97, 16, 16, 2, 4, 2,
            10, 32, true, false, false, DType.F32, 0.3, 21);
    private static final SyntheticCheckpoint.Spec OPT = new SyntheticCheckpoint.Spec("opt", 97, 12, 12, 2, 4, 4, 10,
            32, true, true, false, DType.F32, 0.3, 22);

    @Test
    void editedModelEqualsTheModelBuiltWithoutTheFeatures() throws IOException {
        for (SyntheticCheckpoint.Spec spec : List.of(LLAMA, OPT)) {
            Path dir = tmp.resolve(spec.arch());
            SyntheticCheckpoint.write(spec, dir);
            List<Integer> dropped = List.of(0, 5, 6, 11);
            Path expected = withoutFeatures(dir, dropped, tmp.resolve(spec.arch() + "-expected"));
            TokenBatch tokens = new TokenBatch(2, 9, new SplittableRandom(3).ints(18, 0, spec.vocab()).toArray());
            try (Checkpoint source = Checkpoint.open(dir);
                 Checkpoint direct = Checkpoint.open(expected);
                 Transformer reference = Transformer.load(direct, DataType.DOUBLE)) {
                Transformer model = Transformer.load(source, DataType.DOUBLE);
                long before = model.parameterCount();
                long each = HiddenChannelEdit.parametersPerFeature(model.config(), model.layout());
                try (Transformer edited = new HiddenChannelEdit(dropped).applyTo(model)) {
                    assertEquals(spec.hidden() - dropped.size(), edited.config().hiddenSize());
                    assertEquals(before - dropped.size() * each, edited.parameterCount(), spec.arch());
                    assertEquals(reference.parameterCount(), edited.parameterCount());
                    INDArray logits = edited.logits(tokens);
                    assertTrue(reference.logits(tokens).equalsWithEps(logits, 1e-10), spec.arch() + " logits");

                    Path saved = tmp.resolve(spec.arch() + "-saved");
                    CheckpointWriter.save(edited, source, saved);
                    var config = new ObjectMapper().readTree(saved.resolve(Checkpoint.CONFIG).toFile());
                    assertEquals(spec.hidden() - dropped.size(), config.get("hidden_size").asInt());
                    assertEquals(spec.hidden() / spec.heads(), config.get("head_dim").asInt());
                    assertFalse(config.has("lancet"), "a stock-shaped model needs no per-layer entries");
                    try (Checkpoint reopened = Checkpoint.open(saved);
                         Transformer reloaded = Transformer.load(reopened, DataType.DOUBLE)) {
                        assertEquals(edited.layout(), reloaded.layout());
                        assertTrue(logits.equalsWithEps(reloaded.logits(tokens), 1e-6), spec.arch() + " reloaded");
                    }
                }
            }
        }
    }

    @Test
    void refusesEditsThatDoNotFit() {
        Path dir = tmp.resolve("llama");
        SyntheticCheckpoint.write(LLAMA, dir);
        try (Checkpoint source = Checkpoint.open(dir)) {
            ModelConfig config = source.config();
            ModelLayout layout = source.layout();
            assertTrue(assertThrows(IllegalArgumentException.class, () -> new HiddenChannelEdit(List.of(16))
                    .check(config, layout)).getMessage().contains("out of range"));
            List<Integer> every = IntStream.range(0, 16).boxed().toList();
            assertTrue(assertThrows(IllegalArgumentException.class,
                    () -> new HiddenChannelEdit(every).check(config, layout)).getMessage().contains("every hidden"));
            assertEquals(1, new HiddenChannelEdit(every.subList(1, 16)).check(config, layout));
        }
        Path fused = tmp.resolve("opt-350m-like");
        SyntheticCheckpoint.write(new SyntheticCheckpoint.Spec("opt", 97, 12, 8, 2, 4, 4, 10, 32, true, true, true,
                DType.F32, 0.3, 23), fused);
        try (Checkpoint projected = Checkpoint.open(fused)) {
            assertTrue(assertThrows(IllegalArgumentException.class, () -> new HiddenChannelEdit(List.of(1))
                    .check(projected.config(), projected.layout())).getMessage().contains("project_in"));
        }
    }

    /**
     * The checkpoint in {@code dir} rewritten without hidden features {@code dropped}, deciding by tensor name alone:
     * embeddings, positions and head lose columns, norms entries, stream readers (q, k, v, gate, up, fc1) input
     * columns, stream writers (o_proj, out_proj, down_proj, fc2) output rows and bias entries.
     */
    private static Path withoutFeatures(Path dir, List<Integer> dropped, Path out) throws IOException {
        Files.createDirectories(out);
        List<Entry> entries = new ArrayList<>();
        int hidden;
        try (Checkpoint source = Checkpoint.open(dir)) {
            hidden = source.config().hiddenSize();
            long[] kept = IntStream.range(0, hidden).filter(d -> !dropped.contains(d)).asLongStream().toArray();
            for (TensorInfo info : source.tensors()) {
                INDArray t = source.load(info.name(), DataType.FLOAT, info.shape());
                String n = info.name();
                boolean writer = n.contains("o_proj") || n.contains("out_proj") || n.contains("down_proj")
                        || n.contains("fc2");
                boolean norm = n.contains("norm");
                INDArray cut;
                if (t.rank() == 1) {
                    cut = norm || writer ? t.get(NDArrayIndex.indices(kept)) : t;
                } else if (writer) {
                    cut = t.get(NDArrayIndex.indices(kept), NDArrayIndex.all());
                } else {
                    cut = t.get(NDArrayIndex.all(), NDArrayIndex.indices(kept));
                }
                INDArray c = cut.dup('c');
                entries.add(Entry.ofFloats(n, DType.F32, c.shape(), c.data().asFloat()));
            }
            ObjectNode config = (ObjectNode) source.configJson().deepCopy();
            config.put("hidden_size", kept.length);
            config.put("head_dim", hidden / config.get("num_attention_heads").asInt());
            if (config.has("word_embed_proj_dim")) {
                config.put("word_embed_proj_dim", kept.length);
            }
            new ObjectMapper().writeValue(out.resolve(Checkpoint.CONFIG).toFile(), config);
        }
        SafetensorsWriter.write(out.resolve(Checkpoint.WEIGHTS), Map.of(), entries);
        return out;
    }
}
