package dev.lancet.engine.model;

import dev.lancet.engine.io.CheckpointException;
import dev.lancet.engine.io.SafetensorsFile;
import dev.lancet.engine.io.SafetensorsWriter;
import dev.lancet.engine.io.SafetensorsWriter.Entry;
import dev.lancet.engine.io.TensorInfo;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;

/**
 * Saves a model as a Hugging Face directory shaped like its source checkpoint: the same tensor names,
 * order and dtypes (so an unchanged model round-trips byte for byte), config.json and tokenizer files.
 */
public final class CheckpointWriter {

    private CheckpointWriter() {
    }

    public static void save(Transformer model, Checkpoint source, Path outDir) {
        try {
            Files.createDirectories(outDir);
            List<Entry> entries = new ArrayList<>();
            Map<String, INDArray> parameters = model.parameters();
            Map<String, String> metadata = null;
            for (TensorInfo info : source.tensors()) {
                SafetensorsFile shard = source.shardOf(info.name());
                metadata = metadata == null ? shard.metadata() : metadata;
                INDArray value = parameters.get(canonical(info.name(), parameters));
                entries.add(value == null ? Entry.copyOf(shard, info)
                        : Entry.ofFloats(info.name(), info.dtype(), value.shape(), floats(value)));
            }
            SafetensorsWriter.write(outDir.resolve(Checkpoint.WEIGHTS), metadata == null ? Map.of() : metadata,
                    entries);
            copyCompanions(source.dir(), outDir);
        } catch (IOException e) {
            throw new CheckpointException(outDir, "cannot write model: " + e.getMessage());
        }
    }

    /** The parameter name a stored tensor corresponds to, stored with or without the "model." prefix. */
    private static String canonical(String stored, Map<String, INDArray> parameters) {
        return parameters.containsKey(stored) ? stored : "model." + stored;
    }

    private static float[] floats(INDArray value) {
        INDArray f = value.dataType() == DataType.FLOAT ? value : value.castTo(DataType.FLOAT);
        return f.dup('c').data().asFloat();
    }

    /** Files of a Hugging Face model directory that travel with the weights unchanged. */
    private static final List<String> COMPANIONS = List.of(Checkpoint.CONFIG, "generation_config.json",
            Checkpoint.TOKENIZER, "tokenizer_config.json", "special_tokens_map.json", "vocab.json", "merges.txt",
            "tokenizer.model");

    private static void copyCompanions(Path from, Path to) throws IOException {
        if (from.toAbsolutePath().normalize().equals(to.toAbsolutePath().normalize())) {
            return;
        }
        for (String name : COMPANIONS) {
            if (Files.isRegularFile(from.resolve(name))) {
                Files.copy(from.resolve(name), to.resolve(name), StandardCopyOption.REPLACE_EXISTING);
            }
        }
    }
}
