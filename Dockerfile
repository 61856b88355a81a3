# Production image: one image, three roles (web, worker, bot) chosen by the command.
# Every top-level package of pyproject.toml must be copied here: tests/packaging builds the
# wheel from exactly what these COPY lines bring in and runs the server from it.
FROM python:3.11-slim
WORKDIR /app
COPY pyproject.toml README.md ./
COPY nextup nextup
COPY core core
COPY web web
COPY bot bot
COPY sms sms
COPY sim sim
COPY migrations migrations
RUN pip install --no-cache-dir . && useradd --system nextup
USER nextup
EXPOSE 8000
CMD ["nextup", "serve", "--host", "0.0.0.0", "--port", "8000"]
