# Production image: one image, three roles (web, worker, bot) chosen by the command.
FROM python:3.11-slim
WORKDIR /app
COPY pyproject.toml README.md ./
COPY core core
COPY web web
COPY bot bot
COPY sms sms
COPY migrations migrations
RUN pip install --no-cache-dir . && useradd --system nextup
USER nextup
EXPOSE 8000
CMD ["nextup", "serve", "--host", "0.0.0.0", "--port", "8000"]
