package dev.lancet.daemon;

import dev.lancet.engine.curvature.Precision;
import dev.lancet.engine.io.AtomicFiles;
import dev.lancet.engine.text.CalibrationSource;
import dev.lancet.jobs.CurvatureJob;
import dev.lancet.jobs.JobProgress;
import dev.lancet.proto.daemon.CurvatureStatus;
import dev.lancet.proto.daemon.StoredCurvature;
import io.grpc.Status;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.List;
import java.util.concurrent.ConcurrentHashMap;

/**
 * Each model's dense curvature, grown batch by batch: {@code models/<key>/} holds {@code state.pb} (the version:
 * batches folded in so far), {@code factors-<v>.safetensors} (the fp64 means over every batch up to v) and
 * {@code batch-<v>/} (the batch's calibration files as accepted, kept). A batch costs only its own windows: they
 * are folded into the previous version's factors ({@code lancet curvature --add-to}). The state file is written
 * last, atomically: a batch counts once it names it, so a crash at any point leaves it either wholly in or out,
 * and the next batch clears what a half-done one left. Batches of one model are folded one at a time.
 */
final class CurvatureStore {

    static final int FORMAT = 1;
    private static final String STATE = "state.pb";

    private final Path models;
    private final ConcurrentHashMap<String, Object> locks = new ConcurrentHashMap<>();

    CurvatureStore(Path state) throws IOException {
        this.models = Files.createDirectories(state.resolve("models"));
    }

    /** Calibration settings of one batch; the files already confined to the daemon's roots. */
    record Batch(Path model, List<Path> calibration, int samples, int seqlen, CalibrationSource.Sampling sampling,
                 long seed) {
    }

    /** Folds a batch into the model's state and keeps its files. */
    CurvatureStatus add(Batch batch) throws InterruptedException {
        Path dir = models.resolve(key(batch.model()));
        synchronized (locks.computeIfAbsent(dir.toString(), k -> new Object())) {
            try {
                Files.createDirectories(dir);
                StoredCurvature current = read(dir, batch.model());
                int version = current.getVersion() + 1;
                Path data = dir.resolve("batch-" + version);
                Path temp = dir.resolve(".batch-" + version);
                Path factors = factors(dir, version);
                // what a batch interrupted before it counted left behind
                AtomicFiles.deleteTree(data);
                AtomicFiles.deleteTree(temp);
                Files.deleteIfExists(factors);
                try {
                    Files.createDirectories(temp);
                    List<Path> kept = new ArrayList<>();
                    for (int i = 0; i < batch.calibration().size(); i++) {
                        kept.add(Files.copy(batch.calibration().get(i), temp.resolve("data-" + i + ".txt")));
                    }
                    CurvatureJob.Result result = CurvatureJob.run(new CurvatureJob.Spec(batch.model(), kept,
                            batch.samples(), batch.seqlen(), batch.sampling(), batch.seed(),
                            current.getVersion() == 0 ? null : factors(dir, current.getVersion()), factors,
                            Precision.FP64, null, CurvatureJob.Pipeline.ACTORS), JobProgress.NONE);
                    Files.move(temp, data, StandardCopyOption.ATOMIC_MOVE);
                    StoredCurvature next = current.toBuilder().setVersion(version).setTokens(result.tokens()).build();
                    AtomicFiles.write(dir.resolve(STATE), next.toByteArray());
                    return CurvatureStatus.newBuilder().setModel(batch.model().toString()).setVersion(version)
                            .setTokens(result.tokens()).setNewTokens(result.newTokens()).setSeconds(result.seconds())
                            .build();
                } catch (RuntimeException | InterruptedException e) {
                    // a refused batch leaves nothing
                    AtomicFiles.deleteTree(temp);
                    Files.deleteIfExists(factors);
                    throw e;
                }
            } catch (IOException e) {
                throw new UncheckedIOException(e);
            }
        }
    }

    /** The factor file of the model's current state. */
    Path current(Path model) {
        Path dir = models.resolve(key(model));
        StoredCurvature state = read(dir, model);
        if (state.getVersion() == 0) {
            throw Status.NOT_FOUND.withDescription("no calibration data added for this model yet (add-data first)")
                    .asRuntimeException();
        }
        return factors(dir, state.getVersion());
    }

    private static StoredCurvature read(Path dir, Path model) {
        Path file = dir.resolve(STATE);
        try {
            if (!Files.exists(file)) {
                return StoredCurvature.newBuilder().setFormat(FORMAT).setModel(model.toString()).build();
            }
            StoredCurvature state = StoredCurvature.parseFrom(Files.readAllBytes(file));
            if (state.getFormat() != FORMAT) {
                throw new IllegalStateException(file + ": curvature state of format " + state.getFormat());
            }
            return state;
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    private static Path factors(Path dir, int version) {
        return dir.resolve("factors-" + version + ".safetensors");
    }

    /** A directory name for a model: a hash of its resolved path. */
    private static String key(Path model) {
        try {
            byte[] digest = MessageDigest.getInstance("SHA-256").digest(model.toString().getBytes(StandardCharsets.UTF_8));
            return HexFormat.of().formatHex(digest, 0, 8);
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException(e);
        }
    }
}
