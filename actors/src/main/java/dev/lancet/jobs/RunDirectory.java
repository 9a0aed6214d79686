package dev.lancet.jobs;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.lancet.engine.io.AtomicFiles;
import dev.lancet.engine.io.CheckpointException;
import dev.lancet.engine.io.DType;
import dev.lancet.engine.model.Checkpoint;
import dev.lancet.engine.model.CheckpointWriter;
import dev.lancet.engine.model.Transformer;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.stream.Stream;

/**
 * The output directory of a multi-shot job, safe to kill at any moment: every shot ends with a full checkpoint
 * ({@code shot-T/}, fp32 so a resumed run continues from exactly the same weights), written under a temporary name
 * and renamed, then {@code progress.json} (written and renamed the same way) names it and holds the job's
 * fingerprint and the shots' reports. A killed run leaves nothing or a complete checkpoint, never a half-written
 * one; the next run with {@code --resume} continues from it.
 */
final class RunDirectory {

    static final String PROGRESS = "progress.json";
    private static final ObjectMapper JSON = new ObjectMapper().enable(SerializationFeature.INDENT_OUTPUT);

    private final Path dir;
    private final JsonNode fingerprint;
    private ObjectNode progress;

    private RunDirectory(Path dir, JsonNode fingerprint, ObjectNode progress) {
        this.dir = dir;
        this.fingerprint = fingerprint;
        this.progress = progress;
    }

    /**
     * Opens {@code dir} for the job with this fingerprint. Without {@code resume} the directory must not hold a run
     * (nothing is overwritten by accident); with it, a run there must be this job's. Creates nothing yet.
     */
    static RunDirectory open(Path dir, JsonNode job, boolean resume) {
        JsonNode fingerprint = asStored(job);
        Path file = dir.resolve(PROGRESS);
        if (!Files.exists(file)) {
            if (resume && Files.isDirectory(dir)) {
                clean(dir);
            }
            return new RunDirectory(dir, fingerprint, null);
        }
        if (!resume) {
            throw new CheckpointException(dir, "already holds a run; resume it or choose another output directory");
        }
        ObjectNode progress;
        try {
            progress = (ObjectNode) JSON.readTree(file.toFile());
        } catch (IOException | ClassCastException e) {
            throw new CheckpointException(file, "unreadable: " + e.getMessage());
        }
        if (!fingerprint.equals(progress.get("job"))) {
            throw new CheckpointException(file, "belongs to another job (different model, method or settings); "
                    + "it cannot be resumed with these");
        }
        clean(dir);
        return new RunDirectory(dir, fingerprint, progress);
    }

    /** The JSON as read back from a file (numbers typed by their text), so that equal jobs compare equal. */
    private static JsonNode asStored(JsonNode json) {
        try {
            return JSON.readTree(JSON.writeValueAsBytes(json));
        } catch (IOException e) {
            throw new IllegalStateException(e);
        }
    }

    /** Shots completed by an earlier run (0 without one). */
    int shotsDone() {
        return progress == null ? 0 : progress.get("shots_done").asInt();
    }

    boolean finished() {
        return progress != null && progress.path("finished").asBoolean();
    }

    /** What an earlier run recorded ({@code null} without one). */
    JsonNode recorded(String key) {
        return progress == null ? null : progress.get(key);
    }

    /** The checkpoint of the last completed shot. */
    Path lastCheckpoint() {
        return dir.resolve(progress.get("checkpoint").asText());
    }

    /** What a checkpoint holds, written into the (temporary) directory it is given. */
    @FunctionalInterface
    interface Contents {
        void writeTo(Path dir) throws IOException;
    }

    /** Saves shot {@code shot}'s model, then records it with {@code state} (reports and figures so far). */
    void completeShot(int shot, Transformer model, Checkpoint source, ObjectNode state) throws IOException {
        complete(shot, dir -> CheckpointWriter.save(model, source, dir, DType.F32), state);
    }

    /**
     * Writes checkpoint {@code shot} (a shot, or a segment of training steps) with {@code contents}, then records it
     * with {@code state}; the previous checkpoint is dropped only after that.
     */
    void complete(int shot, Contents contents, ObjectNode state) throws IOException {
        String name = "shot-" + shot;
        Path temp = dir.resolve(".tmp-" + name);
        AtomicFiles.deleteTree(temp);
        Files.createDirectories(temp);
        contents.writeTo(temp);
        Path target = dir.resolve(name);
        AtomicFiles.deleteTree(target);
        Files.move(temp, target, StandardCopyOption.ATOMIC_MOVE);
        String previous = progress == null ? null : progress.path("checkpoint").asText(null);
        record(state.put("shots_done", shot).put("checkpoint", name).put("finished", false));
        if (previous != null && !previous.equals(name)) {
            AtomicFiles.deleteTree(dir.resolve(previous));
        }
    }

    /**
     * Records {@code state}, work done inside the next shot (e.g. a slicing run's blocks, whose state the job keeps
     * in a file of its own under the directory), keeping the last completed shot's checkpoint.
     */
    void recordPartial(ObjectNode state) throws IOException {
        String checkpoint = progress == null ? null : progress.path("checkpoint").asText(null);
        if (checkpoint != null) {
            state.put("checkpoint", checkpoint);
        }
        record(state.put("shots_done", shotsDone()).put("finished", false));
    }

    /** Marks the run finished (its outputs written) and drops the last checkpoint. */
    void finish(ObjectNode state) throws IOException {
        String checkpoint = progress.path("checkpoint").asText(null);
        record(state.put("shots_done", shotsDone()).put("finished", true));
        if (checkpoint != null) {
            AtomicFiles.deleteTree(dir.resolve(checkpoint));
        }
    }

    private void record(ObjectNode state) throws IOException {
        state.set("job", fingerprint);
        AtomicFiles.write(dir.resolve(PROGRESS), JSON.writeValueAsBytes(state));
        progress = state;
    }

    /** Removes what a killed run left half-written: temporary files and directories. */
    private static void clean(Path dir) {
        try (Stream<Path> entries = Files.list(dir)) {
            for (Path p : (Iterable<Path>) entries::iterator) {
                if (p.getFileName().toString().startsWith(".tmp-") || p.getFileName().toString().endsWith(".tmp")) {
                    AtomicFiles.deleteTree(p);
                }
            }
        } catch (IOException e) {
            throw new CheckpointException(dir, "cannot read: " + e.getMessage());
        }
    }
}
