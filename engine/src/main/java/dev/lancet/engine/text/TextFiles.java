package dev.lancet.engine.text;

import dev.lancet.engine.io.CheckpointException;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.charset.CharacterCodingException;
import java.nio.charset.CodingErrorAction;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;

/** Reads corpus files as strict UTF-8, so a wrong encoding is an error rather than silent mojibake. */
public final class TextFiles {

    private TextFiles() {
    }

    public static String readUtf8(Path file) {
        if (!Files.isRegularFile(file)) {
            throw new CheckpointException(file, "text file not found");
        }
        try {
            byte[] bytes = Files.readAllBytes(file);
            return StandardCharsets.UTF_8.newDecoder()
                    .onMalformedInput(CodingErrorAction.REPORT)
                    .onUnmappableCharacter(CodingErrorAction.REPORT)
                    .decode(ByteBuffer.wrap(bytes)).toString();
        } catch (CharacterCodingException e) {
            throw new CheckpointException(file, "not valid UTF-8 text");
        } catch (IOException e) {
            throw new CheckpointException(file, "cannot read: " + e.getMessage());
        }
    }
}
