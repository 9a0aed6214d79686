package dev.lancet.engine.model;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.lancet.engine.Fixtures;
import dev.lancet.engine.io.DType;
import dev.lancet.engine.io.SafetensorsFile;
import dev.lancet.engine.io.SafetensorsWriter;
import dev.lancet.engine.io.TensorInfo;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;

/** Load → save without changes gives byte-identical weights; saved changes load back. */
class CheckpointRoundTripTest {

    @TempDir
    Path tmp;

    static Stream<Path> models() {
        return Stream.of(Fixtures.tinyLlama(), Fixtures.tinyOpt());
    }

    @ParameterizedTest
    @MethodSource("models")
    void unchangedModelSavesByteIdentical(Path modelDir) throws IOException {
        Path out = tmp.resolve("out");
        try (Checkpoint checkpoint = Checkpoint.open(modelDir)) {
            CheckpointWriter.save(Transformer.load(checkpoint, DataType.FLOAT), checkpoint, out);
        }
        assertArrayEquals(Files.readAllBytes(modelDir.resolve("model.safetensors")),
                Files.readAllBytes(out.resolve("model.safetensors")));
        assertArrayEquals(Files.readAllBytes(modelDir.resolve("config.json")), Files.readAllBytes(out.resolve("config.json")));
        assertTrue(Files.exists(out.resolve("tokenizer.json")));
    }

    @Test
    void changedWeightsSurviveSaveAndLoad() {
        Path source = tmp.resolve("src");
        SyntheticCheckpoint.write(new SyntheticCheckpoint.Spec("llama", 50, 16, 16, 1, 2, 1, 24, 32, false, false, false,
                DType.F32, 0.1, 3), source);
        Path out = tmp.resolve("out");
        try (Checkpoint checkpoint = Checkpoint.open(source)) {
            Transformer model = Transformer.load(checkpoint, DataType.FLOAT);
            model.linears().get(0).weight().putScalar(new long[] {1, 2}, 0.75);
            CheckpointWriter.save(model, checkpoint, out);
        }
        try (Checkpoint saved = Checkpoint.open(out)) {
            INDArray weight = Transformer.load(saved, DataType.FLOAT).linears().get(0).weight();
            assertEquals(0.75, weight.getDouble(1, 2), 0);
        }
    }

    @Test
    void shardedCheckpointWithoutPrefixLoadsLikeTheSingleFile() throws IOException {
        Path sharded = tmp.resolve("sharded");
        Files.createDirectories(sharded);
        Files.copy(Fixtures.tinyLlama().resolve("config.json"), sharded.resolve("config.json"));
        StringBuilder index = new StringBuilder("{\"metadata\":{},\"weight_map\":{");
        try (SafetensorsFile source = SafetensorsFile.open(Fixtures.tinyLlama().resolve("model.safetensors"))) {
            List<List<SafetensorsWriter.Entry>> shards = List.of(new ArrayList<>(), new ArrayList<>());
            List<TensorInfo> tensors = source.tensors();
            for (int i = 0; i < tensors.size(); i++) {
                TensorInfo t = tensors.get(i);
                String bare = t.name().startsWith("model.") ? t.name().substring(6) : t.name();
                ByteBuffer bytes = source.raw(t.name());
                shards.get(i % 2).add(new SafetensorsWriter.Entry(bare, t.dtype(), t.shape(), bytes));
                index.append(i == 0 ? "" : ",").append('"').append(bare).append("\":\"part-").append(i % 2).append(".safetensors\"");
            }
            for (int s = 0; s < 2; s++) {
                SafetensorsWriter.write(sharded.resolve("part-" + s + ".safetensors"), Map.of(), shards.get(s));
            }
        }
        Files.writeString(sharded.resolve("model.safetensors.index.json"), index.append("}}").toString());
        TokenBatch tokens = new TokenBatch(1, 8, new int[] {5, 17, 300, 2, 9, 1000, 44, 3});
        try (Checkpoint single = Checkpoint.open(Fixtures.tinyLlama()); Checkpoint split = Checkpoint.open(sharded)) {
            INDArray want = Transformer.load(single, DataType.FLOAT).logits(tokens);
            INDArray got = Transformer.load(split, DataType.FLOAT).logits(tokens);
            assertEquals(want, got);
        }
    }
}
