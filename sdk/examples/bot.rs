//! A bot that builds a base: it adds modules on a timer until it has placed its
//! share, then keeps moving them around, like a restless base planner.
//!
//! ```sh
//! cargo run -p roomcast-sdk --example bot -- alpha
//! ```
//!
//! Arguments: `[room] [url] [modules] [interval-ms]` (defaults `alpha`,
//! `ws://127.0.0.1:8080/dev` or `ROOMCAST_URL`, 8 modules, 700 ms). Open the game at
//! http://127.0.0.1:8080 in the same base to watch. Ctrl-C stops it.

use std::time::Duration;

use roomcast_sdk::{Client, Error, ErrorCode, IconId, background, icon};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let room = args.next().unwrap_or_else(|| "alpha".into());
    let url = args
        .next()
        .or_else(|| std::env::var("ROOMCAST_URL").ok())
        .unwrap_or_else(|| "ws://127.0.0.1:8080/dev".into());
    let modules: usize = args.next().map(|n| n.parse()).transpose()?.unwrap_or(8);
    let interval =
        Duration::from_millis(args.next().map(|n| n.parse()).transpose()?.unwrap_or(700));

    let client = Client::connect(url).room(&room).await?;
    let base = client.join(&room).await?;
    println!(
        "joined {room} at version {} ({} modules already there)",
        base.version,
        base.state.icons.len()
    );
    let version = client.change_background(&room, background(5)?).await?;
    println!("background 5 -> v{version}");

    let mut placed: Vec<(IconId, u16)> = Vec::new();
    let mut ticker = tokio::time::interval(interval);
    let mut tick = 0u32;
    loop {
        tokio::select! {
            _ = ticker.tick() => {}
            _ = tokio::signal::ctrl_c() => break,
        }
        tick += 1;
        if placed.len() < modules {
            // Lay the modules out on a ring around the middle of the planet.
            let angle = placed.len() as f64 / modules as f64 * std::f64::consts::TAU;
            let (x, y) = (480.0 + 220.0 * angle.cos(), 360.0 + 220.0 * angle.sin());
            let img = (placed.len() % 16) as i64;
            match client.add_icon(&room, icon(img, x, y)?).await {
                Ok(added) => {
                    let id = added.id;
                    println!("added {id} at ({x:.0}, {y:.0}) -> v{}", added.version);
                    placed.push((id, img as u16));
                }
                Err(e) if e.code() == Some(ErrorCode::IconLimit) => {
                    println!("the base is full");
                    break;
                }
                Err(e) => eprintln!("add failed: {e}"),
            }
        } else if let Some((id, img)) = placed.get(tick as usize % placed.len()).cloned() {
            // Nudge one module along a small circle.
            let t = f64::from(tick) / 3.0;
            let (x, y) = (480.0 + 260.0 * t.cos(), 360.0 + 160.0 * t.sin());
            match client
                .move_icon(&room, &id, icon(i64::from(img), x, y)?)
                .await
            {
                Ok(version) => println!("moved {id} to ({x:.0}, {y:.0}) -> v{version}"),
                // Someone else deleted it in the game: forget it.
                Err(Error::Server(e)) if e.code == ErrorCode::UnknownIcon => {
                    println!("{id} was removed by someone else");
                    placed.retain(|(p, _)| *p != id);
                }
                Err(e) => eprintln!("move failed: {e}"),
            }
        }
    }
    if let Some(state) = client.state(&room) {
        println!(
            "leaving {room} at version {} with {} modules",
            state.version,
            state.state.icons.len()
        );
    }
    client.close().await;
    Ok(())
}
