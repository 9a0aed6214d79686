package dev.lancet.engine.model;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.lancet.engine.Fixtures;
import dev.lancet.engine.io.DType;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
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
        SyntheticCheckpoint.write(new SyntheticCheckpoint.Spec("llama", 50, 16, 16, 1, 2, 1, 24, 32, false, false,
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
}
