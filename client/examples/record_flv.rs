//! Record an RTMP stream to an FLV file until its publisher stops:
//! `cargo run -p srs-client --example record_flv -- rtmp://127.0.0.1/live/livestream out.flv`

use srs_client::flv::FlvWriter;
use srs_client::{Client, Options, Packet, RtmpUrl};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let [_, url, file] = &args[..] else {
        return Err("usage: record_flv rtmp://host/app/stream OUT.flv".into());
    };
    let url = RtmpUrl::parse(url)?;
    let mut client = Client::connect_url(&url, &Options::default()).await?;
    client.play(&url.stream).await?;
    let mut writer = FlvWriter::new(
        std::io::BufWriter::new(std::fs::File::create(file)?),
        true,
        true,
    )?;
    loop {
        match client.read().await? {
            Packet::Media {
                type_id,
                timestamp,
                payload,
            } => writer.write_tag(type_id, timestamp, &payload)?,
            Packet::Status { code, .. } if code == "NetStream.Play.UnpublishNotify" => break,
            Packet::Status { .. } => {}
        }
    }
    writer.into_inner()?;
    Ok(())
}
